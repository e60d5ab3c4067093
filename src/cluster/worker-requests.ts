import type { Worker } from "node:cluster";
import type { Logger } from "../observability/logger.js";
import type { Answer, AnswerOf, ReplyMessage, WorkerRequest } from "./protocol.js";

interface Pending {
  worker: number;
  settle(answer: Answer | undefined): void;
}

export interface WorkerAnswer<K extends WorkerRequest["type"]> {
  worker: number;
  answer: AnswerOf<K>;
}

function isAnswerOf<K extends WorkerRequest["type"]>(answer: Answer | undefined, kind: K): answer is AnswerOf<K> {
  return answer?.kind === kind;
}

/**
 * Questions to the workers with a deadline: a worker that hangs or dies is left out of the answer instead of holding
 * the admin API; a late answer finds no pending request and is dropped.
 */
export class WorkerRequests {
  private nextReqId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {}

  /** Sends `request` to every worker at once; resolves with the answers that came in time, in worker order. */
  async ask<K extends WorkerRequest["type"]>(
    workers: readonly Worker[],
    request: (reqId: number) => WorkerRequest & { type: K },
  ): Promise<Array<WorkerAnswer<K>>> {
    const asked = workers.filter((worker) => worker.isConnected()).map((worker) => this.askOne<K>(worker, request));
    const answers = await Promise.all(asked);
    return answers.filter((answer): answer is WorkerAnswer<K> => answer !== undefined);
  }

  /** A reply from a worker: settles its request, if still waiting. */
  replied(worker: Worker, message: ReplyMessage): void {
    const pending = this.pending.get(message.reqId);
    if (pending?.worker === worker.id) pending.settle(message.answer);
  }

  /** A worker exited: whatever it was asked is answered by nobody. */
  workerGone(worker: Worker): void {
    for (const pending of [...this.pending.values()]) if (pending.worker === worker.id) pending.settle(undefined);
  }

  private askOne<K extends WorkerRequest["type"]>(
    worker: Worker,
    request: (reqId: number) => WorkerRequest & { type: K },
  ): Promise<WorkerAnswer<K> | undefined> {
    const reqId = this.nextReqId++;
    const message = request(reqId);
    return new Promise((resolve) => {
      const settle = (answer: Answer | undefined): void => {
        clearTimeout(timer);
        this.pending.delete(reqId);
        resolve(isAnswerOf(answer, message.type) ? { worker: worker.id, answer } : undefined);
      };
      const timer = setTimeout(() => {
        this.log.warn({ worker: worker.id, request: message.type, timeoutMs: this.timeoutMs }, "worker did not answer");
        settle(undefined);
      }, this.timeoutMs);
      this.pending.set(reqId, { worker: worker.id, settle });
      worker.send(message, (error) => {
        if (error !== null) settle(undefined);
      });
    });
  }
}
