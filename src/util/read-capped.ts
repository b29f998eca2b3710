// Reads a response body whole, up to a limit: what an authorization server or a JWKS endpoint
// sends is bounded, and a larger body is dropped (its stream destroyed) as soon as it passes it.

/** The body's bytes, or undefined once it grows past `maxBytes` (the stream is then destroyed). */
export async function readCapped(body: AsyncIterable<unknown> & { destroy(): unknown }, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += (c as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      return undefined;
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
