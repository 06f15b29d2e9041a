// CRC16-CCITT (XModem), the checksum Redis Cluster uses to place keys: slot = crc16(tag) mod 16384.
const TABLE = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  let crc = i << 8
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  TABLE[i] = crc
}

/**
 * The Redis Cluster hash slot of a key or shard channel: only the part between the first `{` and the
 * next `}` counts when it is not empty (the hash tag), so every key of one Holdfast channel shares a slot.
 */
export function hashSlot(key: string): number {
  let tagged = key
  const open = key.indexOf('{')
  if (open >= 0) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) tagged = key.slice(open + 1, close)
  }
  let crc = 0
  for (const byte of Buffer.from(tagged, 'utf8'))
    crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!
  return crc % 16384
}
