/**
 * RabbitMQ publishing (amqplib) with publisher confirms and `mandatory`.
 *
 * - Every message is published `persistent`, `mandatory`, on a confirm
 *   channel: {@link EventPublisher.publish} resolves only once the broker has
 *   confirmed it, and rejects on a nack, a closed channel or no connection.
 * - Unroutable messages are never dropped silently. In the ProcOS topology
 *   the events exchange has the `<project>.unroutable` alternate exchange
 *   (see `compiler/emit/rabbitmq.ts`), so the broker keeps them in the
 *   `<project>.unroutable` queue. Should a message still come back
 *   (`basic.return`, e.g. an exchange without alternate exchange), it is
 *   re-published to the dead-letter exchange of the manifest with the headers
 *   `x-procos-unroutable-exchange` / `-routing-key`; if that fails too, it is
 *   logged at `error` with its id and counted ({@link PublisherStatus.lost}).
 * - Task events ({@link EventPublisher.emit}) go through an in-memory outbox:
 *   kept while the broker is unreachable and sent, in order, once the
 *   connection is back (bounded: past {@link OUTBOX_LIMIT} events the oldest
 *   is dropped with an `error` line).
 * - The connection is re-established with exponential back-off.
 *
 * @module
 */
import amqp from "amqplib";
import type { ChannelModel, ConfirmChannel, Message } from "amqplib";
import { Buffer } from "node:buffer";
import { errorMessage, type Logger } from "./log.ts";

/** Most events the outbox keeps while the broker is unreachable. */
export const OUTBOX_LIMIT = 10_000;

/** Options of {@link createEventPublisher}. */
export interface EventPublisherOptions {
  /** The AMQP URL (may hold a password: it is never logged). */
  url: string;
  /** The exchange task events go to. */
  exchange: string;
  /** The dead-letter exchange, where returned (unroutable) messages are re-published. */
  deadLetterExchange: string;
  /** The logger. */
  log: Logger;
  /** The worker's name (the `app_id` of its messages). */
  appId: string;
  /** Longest wait between reconnection attempts, ms (default 30000). */
  maxReconnectDelayMs?: number;
}

/** Options of one publish. */
export interface PublishOptions {
  /** The exchange (default: the events exchange). */
  exchange?: string;
  /** The message id (default: a random UUID). */
  messageId?: string;
  /** Extra headers. */
  headers?: Record<string, unknown>;
  /** Give up after this long, ms (default 10000). */
  timeoutMs?: number;
}

/** What the publisher is doing. */
export interface PublisherStatus {
  /** A confirm channel is open. */
  connected: boolean;
  /** Events waiting in the outbox. */
  outbox: number;
  /** Messages confirmed by the broker. */
  confirmed: number;
  /** Messages the broker returned as unroutable (then re-published to the dead-letter exchange). */
  returned: number;
  /** Messages that could not be kept anywhere (logged at `error`). */
  lost: number;
}

/** A publisher. */
export interface EventPublisher {
  /** Publishes JSON (or a string / bytes as they are) and waits for the broker's confirm. */
  publish(routingKey: string, payload: unknown, opts?: PublishOptions): Promise<void>;
  /** Queues an event in the outbox (sent with confirms, retried until the broker has it). */
  emit(routingKey: string, payload: unknown, opts?: Omit<PublishOptions, "timeoutMs">): void;
  /** What it is doing. */
  status(): PublisherStatus;
  /** Waits (at most `timeoutMs`) for the outbox to drain, then closes the connection. */
  close(timeoutMs?: number): Promise<void>;
}

interface Pending {
  routingKey: string;
  content: Buffer;
  contentType: string;
  opts: PublishOptions;
}

function encode(payload: unknown): { content: Buffer; contentType: string } {
  if (payload instanceof Uint8Array) {
    return { content: Buffer.from(payload), contentType: "application/octet-stream" };
  }
  if (typeof payload === "string") {
    return { content: Buffer.from(payload, "utf8"), contentType: "text/plain; charset=utf-8" };
  }
  return { content: Buffer.from(JSON.stringify(payload), "utf8"), contentType: "application/json" };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates a publisher and starts connecting (in the background). */
export function createEventPublisher(opts: EventPublisherOptions): EventPublisher {
  const log = opts.log;
  const maxDelay = opts.maxReconnectDelayMs ?? 30_000;
  let conn: ChannelModel | undefined;
  let channel: ConfirmChannel | undefined;
  let closing = false;
  let connecting: Promise<void> | undefined;
  let failures = 0;
  const outbox: Pending[] = [];
  let flushing = false;
  const counts = { confirmed: 0, returned: 0, lost: 0 };
  const waiters: Array<() => void> = [];

  const wakeWaiters = () => {
    while (waiters.length) waiters.shift()!();
  };

  const onReturn = (msg: Message) => {
    const ch = channel;
    const fields = msg.fields as { exchange: string; routingKey: string; replyText?: string };
    const id = msg.properties.messageId;
    if (fields.exchange === opts.deadLetterExchange || !ch) {
      counts.lost++;
      log.error("message unroutable, also on the dead-letter exchange: not kept", {
        exchange: fields.exchange,
        routingKey: fields.routingKey,
        messageId: id,
        bytes: msg.content.length,
      });
      return;
    }
    counts.returned++;
    log.warn("message unroutable: re-published to the dead-letter exchange", {
      exchange: fields.exchange,
      routingKey: fields.routingKey,
      deadLetterExchange: opts.deadLetterExchange,
      messageId: id,
    });
    try {
      ch.publish(opts.deadLetterExchange, fields.routingKey, msg.content, {
        ...msg.properties,
        mandatory: true,
        persistent: true,
        headers: {
          ...(msg.properties.headers ?? {}),
          "x-procos-unroutable-exchange": fields.exchange,
          "x-procos-unroutable-routing-key": fields.routingKey,
        },
      }, (err) => {
        if (err) {
          counts.lost++;
          log.error("re-publishing an unroutable message failed", {
            messageId: id,
            error: errorMessage(err),
          });
        }
      });
    } catch (e) {
      counts.lost++;
      log.error("re-publishing an unroutable message failed", {
        messageId: id,
        error: errorMessage(e),
      });
    }
  };

  const openChannel = async () => {
    if (!conn) throw new Error("no connection");
    const ch = await conn.createConfirmChannel();
    ch.on("return", onReturn);
    ch.on("error", (e: Error) => log.warn("AMQP channel error", { error: errorMessage(e) }));
    ch.on("close", () => {
      if (channel === ch) channel = undefined;
      // the connection may still be up (a channel error, e.g. an unknown exchange)
      if (!closing && conn) {
        openChannel().catch(() => {/* the connection's close handler reconnects */});
      }
    });
    channel = ch;
    wakeWaiters();
    void flush();
  };

  const connect = (): Promise<void> => {
    if (connecting) return connecting;
    connecting = (async () => {
      while (!closing) {
        try {
          const c = await amqp.connect(opts.url, { timeout: 10_000 });
          c.on(
            "error",
            (e: Error) => log.warn("AMQP connection error", { error: errorMessage(e) }),
          );
          c.on("close", () => {
            if (conn === c) {
              conn = undefined;
              channel = undefined;
              if (!closing) {
                log.warn("AMQP connection closed; reconnecting");
                void connect();
              }
            }
          });
          conn = c;
          await openChannel();
          if (failures > 0) log.info("AMQP connection re-established");
          failures = 0;
          return;
        } catch (e) {
          failures++;
          const delay = Math.min(maxDelay, 500 * 2 ** Math.min(failures, 16));
          if (failures <= 3 || failures % 10 === 0) {
            log.warn("connecting to RabbitMQ failed; retrying", {
              error: errorMessage(e),
              attempt: failures,
              retryInMs: delay,
            });
          }
          await sleep(delay);
        }
      }
    })().finally(() => {
      connecting = undefined;
    });
    return connecting;
  };

  const sendOne = (p: Pending): Promise<void> => {
    const ch = channel;
    if (!ch) return Promise.reject(new Error("not connected to RabbitMQ"));
    const { content } = p;
    return new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(
        () => reject(new Error("no publisher confirm from RabbitMQ in time")),
        p.opts.timeoutMs ?? 10_000,
      );
      try {
        ch.publish(
          p.opts.exchange ?? opts.exchange,
          p.routingKey,
          content,
          {
            persistent: true,
            mandatory: true,
            contentType: p.contentType,
            messageId: p.opts.messageId ?? crypto.randomUUID(),
            appId: opts.appId,
            timestamp: Math.floor(Date.now() / 1000),
            headers: p.opts.headers,
          },
          (err) => {
            clearTimeout(timeout);
            if (err) reject(err instanceof Error ? err : new Error(`broker nack: ${String(err)}`));
            else {
              counts.confirmed++;
              resolve();
            }
          },
        );
      } catch (e) {
        clearTimeout(timeout);
        reject(e);
      }
    });
  };

  const pendingOf = (routingKey: string, payload: unknown, o: PublishOptions): Pending => {
    const { content, contentType } = encode(payload);
    return { routingKey, content, contentType, opts: o };
  };

  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      while (outbox.length > 0 && channel) {
        try {
          await sendOne(outbox[0]);
          outbox.shift();
        } catch (e) {
          log.warn("publishing an event failed; kept in the outbox", {
            error: errorMessage(e),
            outbox: outbox.length,
          });
          await sleep(1000);
        }
      }
    } finally {
      flushing = false;
      if (outbox.length === 0) wakeWaiters();
    }
  }

  void connect();

  return {
    async publish(routingKey, payload, o = {}) {
      if (!channel) {
        // give a reconnect in progress a moment
        await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(2000)]);
      }
      await sendOne(pendingOf(routingKey, payload, o));
    },
    emit(routingKey, payload, o = {}) {
      outbox.push(pendingOf(routingKey, payload, o));
      if (outbox.length > OUTBOX_LIMIT) {
        const dropped = outbox.shift()!;
        counts.lost++;
        log.error("event outbox full: the oldest event is dropped", {
          routingKey: dropped.routingKey,
          messageId: dropped.opts.messageId,
        });
      }
      void flush();
    },
    status: () => ({ connected: channel !== undefined, outbox: outbox.length, ...counts }),
    async close(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (outbox.length > 0 && channel && Date.now() < deadline) {
        await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(200)]);
      }
      if (outbox.length > 0) {
        counts.lost += outbox.length;
        log.error("events not published at shutdown", { count: outbox.length });
      }
      closing = true;
      const c = conn;
      conn = undefined;
      channel = undefined;
      if (c) await c.close().catch(() => {});
    },
  };
}
