// Image inputs arrive as data URLs or http(s) URLs, as Cog's file inputs do; remote ones are fetched with
// a size and a time limit so one slow or huge download cannot stall the server.
const MAX_IMAGE_BYTES = 16 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 15_000;

const DATA_URL = /^data:([^,]*?)(;base64)?,(.*)$/s;

/** The bytes a data: or http(s): URL names; errors say why in words a client can act on. */
export async function readImageUrl(url: string): Promise<Uint8Array> {
  const tooBig = () => new Error(`is larger than ${MAX_IMAGE_BYTES / 2 ** 20} MiB`);
  if (url.startsWith("data:")) {
    const m = DATA_URL.exec(url);
    if (!m) throw new Error("is not a valid data URL (data:[<type>][;base64],<data>)");
    let bytes: Buffer;
    try {
      bytes = m[2] ? Buffer.from(m[3], "base64") : Buffer.from(decodeURIComponent(m[3]), "latin1");
    } catch {
      throw new Error("is not a valid data URL: bad percent-encoding");
    }
    if (bytes.length === 0) throw new Error("is an empty data URL");
    if (bytes.length > MAX_IMAGE_BYTES) throw tooBig();
    return bytes;
  }
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (e) {
    const why = (e as Error).name === "TimeoutError" ? `took longer than ${FETCH_TIMEOUT_MS / 1000} s` : (e as Error).message;
    throw new Error(`could not be downloaded: ${why}`);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new Error(`could not be downloaded: HTTP ${res.status}`);
  }
  if (Number(res.headers.get("content-length") ?? 0) > MAX_IMAGE_BYTES) {
    await res.body.cancel();
    throw tooBig();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += chunk.length;
      if (size > MAX_IMAGE_BYTES) throw tooBig();
      chunks.push(chunk);
    }
  } catch (e) {
    if (size > MAX_IMAGE_BYTES) throw e;
    throw new Error(`could not be downloaded: ${(e as Error).message}`);
  }
  return Buffer.concat(chunks);
}
