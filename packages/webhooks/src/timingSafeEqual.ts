// Takes time that depends only on the length, so a forger cannot learn how many leading bytes of a
// guessed signature were right. Lengths are public anyway (32 bytes for HMAC-SHA256).
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!
  return difference === 0
}
