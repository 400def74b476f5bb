// --redis values, free of imports: the command line checks them without loading a Redis client.

/** A Redis URL for messages: host and port, never the password. */
export function redisWhere(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 6379}`;
}

/** Checks a --redis value: redis:// or rediss:// with a host. */
export function checkRedisUrl(url: string): string {
  if (!URL.canParse(url)) throw new Error(`not a URL: ${url}`);
  const u = new URL(url);
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw new Error(`expected a redis:// or rediss:// URL, got ${u.protocol}//`);
  if (!u.hostname) throw new Error(`no host in ${url}`);
  return url;
}
