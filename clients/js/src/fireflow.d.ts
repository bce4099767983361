// Declarations of the browser client's API (fireflow.js beside it), written by hand; the message types it
// uses come from protocol.d.ts, which `python -m fireflow.hub.run.documents` generates from the schema.

import type {
  Ack,
  ClientFrame,
  CommandType,
  Commands,
  ErrorCode,
  ErrorFrame,
  Positions,
  ProtocolVersion,
  Subscribed,
  TypedEvent,
  Welcome,
} from "./protocol.js";

export type * from "./protocol.js";

/** The protocol version this client speaks (its package's major version). */
export declare const PROTOCOL_VERSION: ProtocolVersion;
/** The WebSocket subprotocol it offers (JSON frames). */
export declare const SUBPROTOCOL: "fireflow.v1.json";

/** A command refused by the hub (an `error` frame), or a link given up on (`UNAUTHENTICATED`). */
export declare class HubError extends Error {
  constructor(frame: Partial<ErrorFrame> & { code: ErrorCode | string; message?: string });
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly frame: ErrorFrame;
}

/** The hub's WebSocket URL for the page's own origin (`ws://host/ws`, or `wss://` under https). */
export declare function wsUrl(loc?: { protocol: string; host: string }): string;
/** `bytes` random bytes as hex, from `crypto.getRandomValues` (there on plain http:// too). */
export declare function randomHex(bytes: number): string;

/** The link as a page shows it; `offline` also after a refused token (then `detail` says why). */
export type HubState = "connecting" | "live" | "reconnecting" | "offline";

/** What the page does with what arrives; only `channels`, `snapshot` and `event` are required. */
export interface HubHandlers {
  /** The channels to subscribe to, asked once, after the first `welcome`. */
  channels(welcome: Welcome): string[] | Promise<string[]>;
  /** `{channel: data}`: replaces the page's state (first subscribe, or a resume the hub could not replay). */
  snapshot(snapshots: { [channel: string]: unknown }, subscribed: Subscribed): void;
  /** One event, in offset order, once (replayed ones after a reconnect included). */
  event(event: TypedEvent): void;
  /** After a frame's events are applied: draw now (a burst draws once). */
  applied?(): void;
  /** Every change of state, and every second while it lasts. */
  state?(state: HubState, hub: Hub): void;
  /** A `positions` frame (dispatch): riders' fixes, lossy, never replayed. */
  positions?(frame: Positions): void;
  /** A channel refused on subscribe, in words. */
  problem?(message: string): void;
}

export interface HubStats {
  connects: number;
  snapshots: number;
  resumes: number;
  replayed: number;
  applied: number;
  ignored: number;
  states: HubState[];
}

/** One WebSocket to the hub: authenticates, subscribes, resumes after a lost link, commands by id. */
export declare class Hub {
  constructor(token: string, handlers: HubHandlers, url?: string);
  readonly token: string;
  readonly url: string;
  /** The highest offset applied; null until the first snapshot. */
  readonly offset: number | null;
  readonly epoch: string | null;
  readonly channels: string[] | null;
  readonly welcome: Welcome | null;
  readonly state: HubState;
  /** Why it is in its state (e.g. why it gave up). */
  readonly detail: string;
  /** The close code that made it give up (4001–4003: the token refused or revoked). */
  readonly closeCode?: number;
  readonly live: boolean;
  readonly stats: HubStats;
  /** Connect, and keep connecting (with backoff) until `HubError` `UNAUTHENTICATED` gives up. */
  start(): this;
  /** The hub's clock, in ms since the epoch (ours corrected by pings and events). */
  now(): number;
  /** A new command id, unique to this page. */
  newId(): string;
  /** Send a command; resolves with its `ack`, rejects with `HubError`. The same `id` again is the same command. */
  command<T extends CommandType>(type: T, data: Commands[T], id?: string): Promise<Ack>;
  /** `command`, reusing the id of the same action (type and data) while it is unanswered: a double tap runs once. */
  act<T extends CommandType>(type: T, data: Commands[T]): Promise<Ack>;
  /** Send a frame the hub does not answer (a rider's `position`) if live; false when it could not go. */
  send(frame: ClientFrame): boolean;
}
