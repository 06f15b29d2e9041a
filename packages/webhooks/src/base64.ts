// atob/btoa exist in Node 16+, browsers, workers and edge runtimes; Buffer does not.

export function encodeBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

const BASE64_PATTERN = /^[A-Za-z0-9+/]*={0,2}$/

// Strict standard base64 (padding optional): anything else is undefined rather than a
// best-effort decode, so a garbled signature can never be mistaken for a valid one.
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!BASE64_PATTERN.test(text)) return undefined
  const unpadded = text.replace(/=+$/, '')
  if (unpadded.length % 4 === 1) return undefined
  const padded = unpadded + '='.repeat((4 - (unpadded.length % 4)) % 4)
  let binary: string
  try {
    binary = atob(padded)
  } catch {
    return undefined
  }
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}
