// Package disk is the durable capture: flows recorded into an embedded
// SQLite database (modernc.org/sqlite, pure Go) in a capture directory, so
// that a capture survives restarts and crashes and grows to a million flows
// without slowing traffic or growing RAM. It implements flow.Recorder and
// store.Backend, as the memory store does, and reuses store.Feed for the
// live change feed.
//
// Recording never waits on the disk. Handles update the flow under the
// flow's own mutex and push events (a flow changed; body bytes, copied
// once; a WebSocket message) into a bounded queue. One writer goroutine
// owns the only write connection: it gathers events for about 50 ms (or
// 1,000 events), writes them in one transaction, then announces the
// changes to watchers, so a watcher told of a flow can read it. When the
// queue is full the capture is truncated (bodies cut, messages or new
// flows dropped, all counted), never the traffic. A row exists from the
// request head on, so a flow in progress survives a crash up to the last
// batch; Open marks such flows interrupted.
//
// Layout of the capture directory: capture.db (WAL mode,
// synchronous=NORMAL), segments/ (append-only files holding bodies larger
// than Config.InlineMax, removed whole once no flow refers to them), and
// lock (one process at a time). Body bytes travel in recycled, block-aligned
// buffers and reach their segment by direct I/O where the file system
// allows it, one vectored write per body per batch: the kernel copies
// nothing more. The one copy is the recorder's, and large bodies the
// proxy serves unchanged have none: it reads them into buffers the handle
// lends (flow.BodyLender), which return to the pool once the proxy and the
// writer are both done with them. The schema is versioned (PRAGMA
// user_version, with application_id marking the file as a Loupe capture)
// and migrated in order, in one transaction.
//
// The capture is a list of sessions (store.Session): each Open starts one
// that records, NewSession starts another, and a flow belongs to the
// session that was recording when it was first written. An import fills a
// hidden session in chunks (each a transaction between the batches of
// recorded traffic), shown or merged into its target at Commit, dropped on
// failure or by the next Open after a crash.
//
// Retention (flow count, stored bytes, age) runs in the writer, oldest
// flows first, and never evicts a pinned session or an import in progress;
// a flow's age counts from the later of its start and its session's
// creation. Nothing in RAM grows with
// the number of flows: readers page by primary key and decode rows on
// demand; a small ring keeps the newest summaries for the live feed.
//
// The package must never block the recorder's caller (no disk I/O, no
// waiting for the writer or a reader on the recording path), never delete
// or overwrite a database it cannot read as a Loupe capture of a known
// version (it refuses it, naming the file, before writing anything), and
// never let two processes write one capture. It must not import the proxy,
// web or rules packages.
package disk
