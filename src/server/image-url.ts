// Image inputs arrive as data URLs or http(s) URLs, as Cog's file inputs do; remote ones are fetched with
// a size and a time limit so one slow or huge download cannot stall the server, and through the UrlPolicy.
import { discard, outbound } from "./outbound.js";
import { UrlRefusedError, type UrlPolicy } from "./url-policy.js";

export interface ImageUrlLimits {
  /** Largest image, as a data URL or a download. */
  maxBytes: number;
  /** Time to download one, redirects included. */
  timeoutMs: number;
}

export const IMAGE_URL_LIMITS: ImageUrlLimits = { maxBytes: 16 * 1024 * 1024, timeoutMs: 15_000 };

const DATA_URL = /^data:([^,]*?)(;base64)?,(.*)$/s;

/** The bytes a data: or http(s): URL names; errors say why in words a client can act on. */
export async function readImageUrl(url: string, policy: UrlPolicy, limits = IMAGE_URL_LIMITS): Promise<Uint8Array> {
  const { maxBytes, timeoutMs } = limits;
  const tooBig = () => new Error(`is larger than ${maxBytes / 2 ** 20} MiB`);
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
    if (bytes.length > maxBytes) throw tooBig();
    return bytes;
  }
  const signal = AbortSignal.timeout(timeoutMs);
  const failed = (e: Error) => {
    if (e instanceof UrlRefusedError) return new Error(`is not fetched: ${e.message}`);
    return new Error(`could not be downloaded: ${signal.aborted ? `took longer than ${timeoutMs / 1000} s` : e.message}`);
  };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error("is not a valid URL");
  }
  const res = await outbound(parsed, { signal, policy }).catch((e: Error) => {
    throw failed(e);
  });
  if (!res.ok) {
    discard(res);
    throw new Error(`could not be downloaded: HTTP ${res.status}`);
  }
  if (Number(res.headers["content-length"] ?? 0) > maxBytes) {
    res.body.destroy();
    throw tooBig();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        res.body.destroy();
        throw tooBig();
      }
      chunks.push(chunk);
    }
  } catch (e) {
    if (size > maxBytes) throw e;
    throw failed(e as Error);
  }
  return Buffer.concat(chunks);
}
