// Who may call which route, decided on the route that matched (after the router decoded and normalised the
// path), never on the raw URL text: "/%70redictions" and "http://host/predictions" are /predictions too.
// Routes are closed unless they say `config: { public: true }`; an unknown path needs credentials as well,
// so probing reveals nothing. The credentials: the bearer token (--token) everywhere; on routes that say
// `basicAuth`, the HTTP Basic users of --api-auth (as AUTOMATIC1111 has it); on routes that say `signedUrl`,
// a `sig` query parameter signed with the token (output URLs handed to OpenAI clients).
import { createHmac, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Served without credentials. */
    public?: boolean;
    /** Also open to the users of --api-auth (HTTP Basic). */
    basicAuth?: boolean;
    /** Also open to a URL signed with the token (signUrlPath). */
    signedUrl?: boolean;
  }
}

export interface AuthSettings {
  /** Bearer token. */
  token?: string;
  /** "user:password" pairs for HTTP Basic (--api-auth). */
  apiAuth?: string[];
}

/** A request without the credentials its route needs; each API answers it in its own error shape. */
export class UnauthorizedError extends Error {
  readonly statusCode = 401;
  constructor(readonly scheme: "Bearer" | "Basic", message: string) {
    super(message);
  }
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** The signature of a (decoded) path under `token`. */
const signature = (token: string, path: string) => createHmac("sha256", token).update(path).digest("base64url");
/** A request's decoded path, whichever form its target has (origin or absolute). */
const pathOf = (url: string) => {
  try {
    return decodeURIComponent(new URL(url, "http://localhost").pathname);
  } catch {
    return undefined;
  }
};

/** `path` (plain characters) with a signature that opens it, on a `signedUrl` route, to anyone holding the URL. */
export function signUrlPath(settings: AuthSettings, path: string): string {
  return settings.token ? `${path}?sig=${signature(settings.token, path)}` : path;
}

/** Checks "user:password" pairs; the message says what is wrong. */
export function parseApiAuth(value: string): string[] {
  const pairs = value.split(",").map((p) => p.trim()).filter(Boolean);
  if (pairs.length === 0 || pairs.some((p) => !/^[^:]+:.+$/.test(p))) throw new Error(`expected user:password (comma-separated for several), got ${JSON.stringify(value)}`);
  return pairs;
}

/** The onRequest hook that enforces the rules above; it throws UnauthorizedError. */
export function authHook(settings: AuthSettings) {
  const bearer = settings.token ? `Bearer ${settings.token}` : undefined;
  const basics = (settings.apiAuth ?? []).map((pair) => `Basic ${Buffer.from(pair).toString("base64")}`);
  return async (req: FastifyRequest) => {
    const config = req.routeOptions.config;
    if (config.public) return;
    const basicApplies = Boolean(config.basicAuth && basics.length);
    if (!bearer && !basicApplies) return;
    const given = req.headers.authorization ?? "";
    if (bearer && same(given, bearer)) return;
    if (basicApplies && basics.some((b) => same(given, b))) return;
    if (config.signedUrl && settings.token) {
      const sig = (req.query as Record<string, unknown> | undefined)?.sig;
      const path = pathOf(req.url);
      if (typeof sig === "string" && path !== undefined && same(sig, signature(settings.token, path))) return;
    }
    throw basicApplies
      ? new UnauthorizedError("Basic", "Incorrect username or password")
      : new UnauthorizedError("Bearer", "missing or wrong bearer token (Authorization: Bearer <token>)");
  };
}
