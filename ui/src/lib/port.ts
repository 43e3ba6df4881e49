// Ports as rules (rules.URLPort) and the filter (port:) compare them: the
// port a URL addresses is its explicit port, else its scheme's default. The
// flow list shows only ports that are not the default.

/** The port a URL of this scheme ("https" or "https:") addresses when it names none. */
export function defaultPort(scheme: string): number | undefined {
  switch (scheme.toLowerCase().replace(/:$/, "")) {
    case "http":
    case "ws":
      return 80;
    case "https":
    case "wss":
      return 443;
  }
  return undefined;
}

/** The port an absolute URL addresses; undefined when it is not a URL or its scheme has no default. */
export function urlPort(url: string): number | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  // URL drops a scheme's default port ("http://x:80" has port ""), which
  // then comes back from the scheme.
  if (u.port) return Number(u.port);
  return defaultPort(u.protocol);
}

/** host:port, with an IPv6 address in brackets; the host alone without a port. */
export function joinHostPort(host: string, port: number | string | undefined): string {
  if (port === undefined || port === "") return host;
  return (host.includes(":") && !host.startsWith("[") ? `[${host}]` : host) + ":" + port;
}

/** The port to show after a flow's host: "" when the URL names none or names its scheme's default. */
export function shownPort(scheme: string, port: string | undefined): string {
  if (!port || Number(port) === defaultPort(scheme)) return "";
  return port;
}
