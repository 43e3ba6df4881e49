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
