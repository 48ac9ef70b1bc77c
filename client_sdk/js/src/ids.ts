/**
 * UUIDv7 event ids (RFC 9562): 48-bit millisecond time, a 12-bit counter, 62 random bits.
 *
 * Ids grow strictly within a page (RFC 9562 §6.2, method 1: the counter is seeded at random
 * below 2^11 each millisecond and incremented within it), so on a tie of `ts` the server's
 * "greater id wins" agrees with the order the events were queued in.
 */

let lastMs = -1;
let counter = 0;

/** A fresh UUIDv7 string. */
export function newEventId(now: number = Date.now()): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  let ms = Math.max(now, lastMs);
  if (ms === lastMs) {
    counter += 1;
    if (counter > 0xfff) {
      ms += 1; // the counter ran out within one millisecond: borrow the next one
      counter = (bytes[6]! << 8 | bytes[7]!) & 0x7ff;
    }
  } else {
    counter = (bytes[6]! << 8 | bytes[7]!) & 0x7ff;
  }
  lastMs = ms;
  for (let i = 5, t = ms; i >= 0; i--, t = Math.floor(t / 256)) bytes[i] = t % 256;
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  let hex = "";
  for (const b of bytes) hex += (b + 0x100).toString(16).slice(1);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
