// Words for the flows that record a CONNECT rather than a request
// (flow.Kind in proxy/flow/flow.go): tunnels Loupe relayed without
// decrypting, and clients that broke off the TLS handshake with Loupe.

import type { Flow, Summary } from "../api/types";

/** The list badge of a flow's kind, or null for an HTTP exchange. */
export function kindBadge(kind: Summary["kind"]): { label: string; cls: string; title: string } | null {
  switch (kind) {
    case "tunnel":
      return { label: "tunnel", cls: "b-tunnel", title: "A CONNECT tunnel Loupe relayed without decrypting it: bytes counted, not captured" };
    case "tls-error":
      return { label: "TLS error", cls: "b-tlserror", title: "The client broke off the TLS handshake with Loupe" };
    default:
      return null;
  }
}

/** What the path column shows for a flow that records a CONNECT. */
export function kindPath(s: Summary): string {
  if (s.kind === "tls-error") return s.error || "TLS handshake failed";
  if (s.kind === "tunnel") return s.error ? `tunnel: ${s.error}` : "⇄ tunnel, not decrypted";
  return s.path;
}

/** How a tunnel's bytes were relayed, in words. */
export function modeText(mode: string | undefined): string {
  switch (mode) {
    case "passthrough":
      return "passthrough: the host matches -passthrough, so Loupe relays the bytes without decrypting them";
    case "opaque":
      return "relayed as is: the client spoke TLS and Loupe has no CA to decrypt it";
    case "raw":
      return "relayed as is: the client spoke neither TLS nor HTTP";
    default:
      return "relayed without decrypting";
  }
}

/** The host:port a CONNECT flow names. */
export function connectTarget(f: Flow): string {
  const u = f.request.url.replace(/^[a-z]+:\/\//i, "");
  return f.tunnel?.target || u.replace(/\/$/, "");
}

/** Whether a failed handshake most likely means the client does not trust Loupe's CA. */
export function trustFailure(failure: string | undefined): boolean {
  return ["unknown_ca", "bad_certificate", "certificate_unknown", "unsupported_certificate", "access_denied", "handshake_failure", "closed"].includes(failure ?? "");
}
