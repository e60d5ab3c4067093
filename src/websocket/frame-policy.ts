import { FrameFailure, type FrameFailureKind } from "./frame-error.js";
import { Opcode } from "./protocol.js";
import { TokenBucket, type TokenBucketSnapshot } from "../util/token-bucket.js";

/** What one peer's frames may be, beyond RFC 6455; each is checked on the frame's header, before any payload. */
export interface FrameLimits {
  /** Most payload bytes in one data frame; -1 for no limit. Over it: 1009. */
  maxFrameSize: number;
  /** Most frames one data message may come in (its first frame and its continuations); 0 for no limit. Over: 1008. */
  maxFragmentsPerMessage: number;
  /** Pings and pongs per second the peer may send (close frames are not counted); 0 for no limit. Over: 1008. */
  controlFrameRate: number;
  /** Pings and pongs it may send at once, above the rate. */
  controlFrameBurst: number;
  /** Text messages may come from it; else 1003. */
  allowText: boolean;
  /** Binary messages may come from it; else 1003. */
  allowBinary: boolean;
}

/** Whether any of `limits` restricts anything (else the stream is given no policy at all). */
export function restrictsFrames(limits: FrameLimits): boolean {
  return (
    limits.maxFrameSize >= 0 ||
    limits.maxFragmentsPerMessage > 0 ||
    limits.controlFrameRate > 0 ||
    !limits.allowText ||
    !limits.allowBinary
  );
}

/** A session's policy for one direction, or null where `limits` are absent or restrict nothing. */
export function policyFor(limits: FrameLimits | undefined): FramePolicy | null {
  return limits !== undefined && restrictsFrames(limits) ? new FramePolicy(limits) : null;
}

export interface FramePolicySnapshot {
  fragments: number;
  controls: TokenBucketSnapshot | null;
}

/**
 * The frame limits of one direction of one session: the stream asks it about each frame header (only where limits
 * are set: a stream without them holds null and pays one field check per frame). It keeps the fragment count of
 * the message under way and the control frames' bucket.
 */
export class FramePolicy {
  private fragments = 0;
  private readonly controls: TokenBucket | undefined;

  constructor(
    private readonly limits: FrameLimits,
    now = Date.now(),
  ) {
    this.controls =
      limits.controlFrameRate > 0
        ? new TokenBucket(limits.controlFrameRate, Math.max(1, limits.controlFrameBurst), now)
        : undefined;
  }

  /** A data frame's header (its opcode, 0 for a continuation, and payload length): the failure, or null. */
  checkData(opcode: number, payloadLength: number): FrameFailureKind | null {
    const limits = this.limits;
    if (limits.maxFrameSize >= 0 && payloadLength > limits.maxFrameSize) return FrameFailure.FrameTooBig;
    if (opcode === Opcode.Continuation) {
      this.fragments++;
    } else {
      this.fragments = 1;
      if (opcode === Opcode.Text ? !limits.allowText : !limits.allowBinary) {
        return opcode === Opcode.Text ? FrameFailure.TextNotAllowed : FrameFailure.BinaryNotAllowed;
      }
    }
    const maxFragments = limits.maxFragmentsPerMessage;
    if (maxFragments > 0 && this.fragments > maxFragments) return FrameFailure.TooManyFragments;
    return null;
  }

  /** The message under way's fragments and the control bucket's level, as plain data (a session moved). */
  snapshot(): FramePolicySnapshot {
    return { fragments: this.fragments, controls: this.controls?.snapshot() ?? null };
  }

  restore(snapshot: FramePolicySnapshot): void {
    this.fragments = snapshot.fragments;
    if (snapshot.controls !== null) this.controls?.restore(snapshot.controls);
  }

  /** A control frame's header: pings and pongs take a token of the control rate. */
  checkControl(opcode: number): FrameFailureKind | null {
    if (this.controls === undefined || opcode === Opcode.Close) return null;
    return this.controls.tryTake(Date.now()) ? null : FrameFailure.ControlRate;
  }
}
