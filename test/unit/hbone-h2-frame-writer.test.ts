/**
 * The framer's output: when frames leave (end of the tick, or at once when a read callback's hold ends), that
 * one write carries what accumulated, and that `end()` lets a write in flight finish, then the frames framed
 * before it, then the FIN (a TLS handle takes one write at a time: writing past one in flight would abort
 * the process). Over an in-memory Duplex that records each write and completes it only when told.
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FrameType } from '../../src/core/hbone/h2/constants.ts';
import { FrameWriter } from '../../src/core/hbone/h2/frame-writer.ts';

/** A socket stand-in: every write is recorded (frame types, in order) and completes when `complete()` says. */
class RecordingSocket extends Duplex {
  readonly writes: number[][] = [];
  ended = false;
  #waiting: (() => void) | undefined;

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.writes.push(frameTypes(chunk));
    this.#waiting = callback;
  }

  override _final(callback: () => void): void {
    this.ended = true;
    callback();
  }

  /** Completes the write in flight. */
  complete(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }
}

function frameTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  for (let at = 0; at + 9 <= bytes.length; at += 9 + bytes.readUIntBE(at, 3)) types.push(bytes[at + 3]!);
  return types;
}

const tick = () => new Promise((resolve) => process.nextTick(resolve));
const ping = (writer: FrameWriter) => writer.frame(FrameType.PING, 0, 0, Buffer.alloc(8));
const settingsAck = (writer: FrameWriter) => writer.frame(FrameType.SETTINGS, 1, 0);

describe('FrameWriter', () => {
  it('writes what one tick framed as one write, at the end of the tick', async () => {
    const socket = new RecordingSocket();
    const writer = new FrameWriter(socket, () => {});
    ping(writer);
    settingsAck(writer);
    expect(socket.writes).toEqual([]);
    await tick();
    expect(socket.writes).toEqual([[FrameType.PING, FrameType.SETTINGS]]);
  });

  it('inside nested holds, writes nothing until the outer release, then at once', async () => {
    const socket = new RecordingSocket();
    const writer = new FrameWriter(socket, () => {});
    writer.hold();
    ping(writer);
    writer.hold();
    settingsAck(writer);
    writer.release();
    await tick();
    expect(socket.writes).toEqual([]);
    writer.release();
    // Synchronously: a read callback's frames leave before it returns, without a tick.
    expect(socket.writes).toEqual([[FrameType.PING, FrameType.SETTINGS]]);
  });

  it('keeps one write in flight: what is framed meanwhile leaves as the next single write', async () => {
    const socket = new RecordingSocket();
    const writer = new FrameWriter(socket, () => {});
    ping(writer);
    await tick();
    settingsAck(writer);
    ping(writer);
    await tick();
    expect(socket.writes).toHaveLength(1);
    expect(writer.bufferedBytes).toBe(3 * 9 + 16);
    socket.complete();
    expect(socket.writes).toEqual([[FrameType.PING], [FrameType.SETTINGS, FrameType.PING]]);
  });

  it('on end, lets the write in flight finish, then writes what was framed, then the FIN', async () => {
    const socket = new RecordingSocket();
    const writer = new FrameWriter(socket, () => {});
    ping(writer);
    await tick();
    writer.frame(FrameType.GOAWAY, 0, 0, Buffer.alloc(8));
    writer.end();
    // Framed after end: dropped, as nothing may follow the GOAWAY.
    ping(writer);
    await tick();
    expect(socket.writes).toEqual([[FrameType.PING]]);
    socket.complete();
    expect(socket.writes).toEqual([[FrameType.PING], [FrameType.GOAWAY]]);
    expect(socket.ended).toBe(false);
    socket.complete();
    await tick();
    expect(socket.ended).toBe(true);
  });
});
