// Outbound HTTP for URLs that come from requests (image downloads, webhooks, uploads), on node:http(s) rather
// than fetch so that every connection, redirects included, goes through the UrlPolicy's address check.
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { UrlPolicy } from "./url-policy.js";

export interface OutboundRequest {
  method?: "GET" | "POST" | "PUT";
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Ends the request, its redirects and the reading of the body. */
  signal: AbortSignal;
  policy: UrlPolicy;
}

export interface OutboundResponse {
  status: number;
  ok: boolean;
  headers: IncomingHttpHeaders;
  /** The URL that answered (after redirects). */
  url: URL;
  body: IncomingMessage;
}

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function once(url: URL, o: OutboundRequest): Promise<IncomingMessage> {
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const headers = o.body === undefined ? o.headers : { ...o.headers, "content-length": String(Buffer.byteLength(o.body)) };
    const req = send(url, { method: o.method ?? "GET", headers, signal: o.signal, ...o.policy.connectOptions(url) }, resolve);
    req.on("error", reject);
    req.end(o.body);
  });
}

/** One request; a GET follows up to MAX_REDIRECTS redirects, each checked by the policy like the first URL. */
export async function outbound(url: URL, o: OutboundRequest): Promise<OutboundResponse> {
  for (let hops = 0; ; hops++) {
    const res = await once(url, o);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ((o.method && o.method !== "GET") || !REDIRECTS.has(status) || !location) {
      return { status, ok: status >= 200 && status < 300, headers: res.headers, url, body: res };
    }
    res.resume();
    if (hops === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
    url = new URL(location, url);
  }
}

/** Discards a response's body (so its connection is freed). */
export function discard(res: OutboundResponse): void {
  res.body.resume();
}
