// A container's labels parsed once. The planner, the early start path (which
// default routes do the labels replace?) and the resolver (does a forward's
// target route back through this container?) all need the same Spec, often
// within one inventory snapshot and for many containers at once. Labels never
// change in Docker, but a container read again is a new ContainerInfo with a
// new labels record: the cache keys on that record (and the name the errors
// use), so it holds exactly the container versions some snapshot still has.

import { LabelError } from '../errors.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import { parseLabels } from './parse.js';
import type { Spec } from './spec.js';

export type LabelLimits = Pick<Limits, 'labels' | 'routes'>;
export type LabelParser = (container: string, labels: Record<string, string>, limits: LabelLimits) => Spec;

/** What the cache needs of a container: the name its errors use and its labels. */
export interface Labelled {
  readonly name: string;
  readonly labels: Record<string, string>;
}

export class SpecCache {
  private readonly parsed = new WeakMap<Record<string, string>, { name: string; result: Spec | LabelError }>();

  constructor(
    readonly limits: LabelLimits = DEFAULT_LIMITS,
    private readonly parse: LabelParser = parseLabels,
  ) {}

  /** The container's Spec; throws its LabelError, the same one every time. */
  specOf(c: Labelled): Spec {
    let entry = this.parsed.get(c.labels);
    if (entry?.name !== c.name) {
      let result: Spec | LabelError;
      try {
        result = this.parse(c.name, c.labels, this.limits);
      } catch (e) {
        if (!(e instanceof LabelError)) throw e;
        result = e;
      }
      entry = { name: c.name, result };
      this.parsed.set(c.labels, entry);
    }
    if (entry.result instanceof LabelError) throw entry.result;
    return entry.result;
  }
}
