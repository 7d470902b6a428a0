/**
 * Connection events on `node:diagnostics_channel`, as undici publishes its request events: a proxy's
 * tracker publishes `opened` and `closed`; metrics, access logs and traces subscribe, so none of them is
 * built into the data path. Publishing is skipped when nobody listens (`hasSubscribers`), so an unobserved
 * connection costs one property read per event. The channels are process-wide: every message names its
 * `source` (the tracker), and `subscribeConnections` hands a subscriber the events of one source only
 * (several ztunnels run in one test process).
 */
import { channel } from 'node:diagnostics_channel';

export const CONNECTION_OPENED = 'ambit:connection:opened';
export const CONNECTION_CLOSED = 'ambit:connection:closed';

const opened = channel(CONNECTION_OPENED);
const closed = channel(CONNECTION_CLOSED);

export interface ConnectionOpened<C> {
  source: object;
  connection: C;
}

export interface ConnectionClosed<C, O> {
  source: object;
  connection: C;
  /** How it ended, in the publisher's terms (the ztunnel: its failure, undefined when it got through). */
  outcome: O;
  /** The error or cancel reason, when there was one. */
  reason: string | undefined;
}

export function publishOpened<C>(event: ConnectionOpened<C>): void {
  if (opened.hasSubscribers) opened.publish(event);
}

export function publishClosed<C, O>(event: ConnectionClosed<C, O>): void {
  if (closed.hasSubscribers) closed.publish(event);
}

export interface ConnectionSubscriber<C, O> {
  opened?(connection: C): void;
  closed?(event: ConnectionClosed<C, O>): void;
}

/** Subscribes to the events of `source` only; returns the unsubscribe function. */
export function subscribeConnections<C, O>(
  source: object,
  subscriber: ConnectionSubscriber<C, O>,
): () => void {
  const onOpened = (message: unknown) => {
    const event = message as ConnectionOpened<C>;
    if (event.source === source) subscriber.opened?.(event.connection);
  };
  const onClosed = (message: unknown) => {
    const event = message as ConnectionClosed<C, O>;
    if (event.source === source) subscriber.closed?.(event);
  };
  if (subscriber.opened) opened.subscribe(onOpened);
  if (subscriber.closed) closed.subscribe(onClosed);
  return () => {
    if (subscriber.opened) opened.unsubscribe(onOpened);
    if (subscriber.closed) closed.unsubscribe(onClosed);
  };
}
