// Hex dump for binary bodies: offset, 16 bytes in hex, printable ASCII.

export const HEX_ROW = 16;

export function hexLine(bytes: Uint8Array, offset: number): string {
  const end = Math.min(bytes.length, offset + HEX_ROW);
  let hex = "";
  let ascii = "";
  for (let i = offset; i < offset + HEX_ROW; i++) {
    if (i < end) {
      const b = bytes[i];
      hex += b.toString(16).padStart(2, "0") + " ";
      ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
    } else {
      hex += "   ";
    }
    if (i - offset === 7) hex += " ";
  }
  return offset.toString(16).padStart(8, "0") + "  " + hex + " |" + ascii + "|";
}

/** hexDump renders up to max bytes, one line per 16; the caller says when it cut. */
export function hexDump(bytes: Uint8Array, max = 64 * 1024): string[] {
  const n = Math.min(bytes.length, max);
  const lines: string[] = [];
  for (let off = 0; off < n; off += HEX_ROW) lines.push(hexLine(n < bytes.length ? bytes.subarray(0, n) : bytes, off));
  return lines;
}

/** isProbablyText says whether bytes look like UTF-8 text (no NULs, few control bytes, decodes). */
export function isProbablyText(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 4096);
  let ctl = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b === 0) return false;
    if (b < 0x20 && b !== 9 && b !== 10 && b !== 13 && b !== 12) ctl++;
  }
  if (ctl > n / 20) return false;
  // A cut inside a multi-byte sequence at the sample's end is fine: retry up to 3 bytes shorter.
  const cut = n < bytes.length ? 3 : 0;
  for (let k = 0; k <= cut; k++) {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n - k));
      return true;
    } catch {
      // try a shorter sample
    }
  }
  return false;
}

/** charsetOf returns the lower-cased charset parameter of a Content-Type, or "". */
export function charsetOf(contentType: string): string {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType);
  return m ? m[1].toLowerCase() : "";
}

/**
 * decodeText turns a body into text for display, or null for binary data.
 * Bodies are served as they crossed the wire, so text in a declared charset
 * other than UTF-8 (ISO-8859-1, Shift_JIS, ...) is decoded with that charset;
 * anything else must look like UTF-8 text.
 */
export function decodeText(bytes: Uint8Array, contentType: string): string | null {
  const cs = charsetOf(contentType);
  if (cs && cs !== "utf-8" && cs !== "utf8") {
    let dec: TextDecoder | null = null;
    try {
      dec = new TextDecoder(cs);
    } catch {
      // A charset the browser does not know: fall back to the UTF-8 test.
    }
    if (dec && !bytes.subarray(0, 4096).includes(0)) return dec.decode(bytes);
  }
  return isProbablyText(bytes) ? new TextDecoder().decode(bytes) : null;
}
