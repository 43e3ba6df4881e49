package h1

import "time"

// popIdle takes the most recently used idle connection to key, or returns
// nil.
func (c *Client) popIdle(key string) *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	for list := c.idle[key]; len(list) > 0; list = c.idle[key] {
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		c.idle[key] = list[:len(list)-1]
		c.nidle--
		if len(list) == 1 {
			delete(c.idle, key)
		}
		if pc.timer.Stop() {
			return pc
		}
		// Its idle timer fired and is closing it.
	}
	return nil
}

// put returns pc to the pool, or closes it when the pool is full or closed.
// Its read buffer is empty (see body.finish) and goes back to the
// buffer pool: an idle connection holds only its socket.
func (c *Client) put(pc *conn) {
	pc.br.Reset(nil)
	c.readers.Put(pc.br)
	pc.br = nil
	c.mu.Lock()
	list := c.idle[pc.key]
	if c.closed || c.nidle >= c.maxIdle || len(list) >= c.maxIdlePerHost {
		c.mu.Unlock()
		pc.close()
		return
	}
	c.idle[pc.key] = append(list, pc)
	c.nidle++
	pc.timer.Reset(c.idleTimeout)
	if !c.sweeping {
		c.sweeping = true
		c.sweeper.Add(1)
		go c.sweep()
	}
	c.mu.Unlock()
}

// sweep closes idle connections that the origin closed (or that hold
// bytes nobody asked for) every sweepInterval, while the pool holds any.
// http.Transport notices at once with a reader goroutine per connection;
// here one non-blocking peek per idle connection and interval does, so a
// closed connection's descriptor is not held until IdleConnTimeout.
func (c *Client) sweep() {
	defer c.sweeper.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		var dead []*conn
		c.mu.Lock()
		for key, list := range c.idle {
			kept := list[:0]
			for _, pc := range list {
				// Whoever stops the idle timer owns the connection.
				if peerDone(pc.conn) && pc.timer.Stop() {
					dead = append(dead, pc)
					c.nidle--
					continue
				}
				kept = append(kept, pc)
			}
			clear(list[len(kept):])
			if len(kept) == 0 {
				delete(c.idle, key)
			} else {
				c.idle[key] = kept
			}
		}
		done := c.nidle == 0
		if done {
			c.sweeping = false
		}
		c.mu.Unlock()
		for _, pc := range dead {
			pc.close()
		}
		if done {
			return
		}
	}
}

// idleExpired closes pc after IdleConnTimeout in the pool.
func (pc *conn) idleExpired() {
	c := pc.cl
	c.mu.Lock()
	list := c.idle[pc.key]
	for i, o := range list {
		if o == pc {
			c.idle[pc.key] = append(list[:i:i], list[i+1:]...)
			if len(c.idle[pc.key]) == 0 {
				delete(c.idle, pc.key)
			}
			c.nidle--
			break
		}
	}
	c.mu.Unlock()
	pc.close()
}

// closeIdle closes every idle connection; with final, the client pools
// nothing afterwards.
func (c *Client) closeIdle(final bool) {
	c.mu.Lock()
	var all []*conn
	for _, list := range c.idle {
		all = append(all, list...)
	}
	clear(c.idle)
	c.nidle = 0
	if final && !c.closed {
		c.closed = true
		close(c.stop)
	}
	c.mu.Unlock()
	for _, pc := range all {
		pc.timer.Stop()
		pc.close()
	}
	if final {
		c.sweeper.Wait()
	}
}
