const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** An unsigned JWT-shaped token: the client only reads `exp`; the server verifies. */
export function fakeJwt(expSeconds: number, sub = 'user'): string {
  return `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub, exp: expSeconds })}.sig`
}
