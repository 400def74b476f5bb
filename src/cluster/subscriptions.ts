// Pub/sub channels over one subscriber connection: a channel is subscribed while it has listeners. ioredis
// subscribes again by itself after a reconnect; messages published during an outage are lost, which is why
// whoever waits on a prediction also re-reads its record now and then (front.ts).
import type { Redis } from "ioredis";

export class Subscriptions {
  private readonly channels = new Map<string, { listeners: Set<(message: string) => void>; ready: Promise<unknown> }>();

  constructor(private readonly sub: Redis) {
    sub.on("error", () => {}); // the main connection reports outages
    sub.on("message", (channel: string, message: string) => {
      for (const fn of this.channels.get(channel)?.listeners ?? []) fn(message);
    });
  }

  /** Resolves once `fn` hears what is published on `channel`; returns its removal. */
  async listen(channel: string, fn: (message: string) => void): Promise<() => void> {
    let entry = this.channels.get(channel);
    if (!entry) {
      const created = { listeners: new Set<(message: string) => void>(), ready: this.sub.subscribe(channel) };
      entry = created;
      this.channels.set(channel, created);
      created.ready.catch(() => {
        if (this.channels.get(channel) === created) this.channels.delete(channel);
      });
    }
    const { listeners, ready } = entry;
    await ready;
    listeners.add(fn);
    return () => {
      listeners.delete(fn);
      if (listeners.size === 0 && this.channels.get(channel) === entry) {
        this.channels.delete(channel);
        this.sub.unsubscribe(channel).catch(() => {});
      }
    };
  }

  async close(): Promise<void> {
    this.channels.clear();
    this.sub.disconnect();
  }
}
