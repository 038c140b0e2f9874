/**
 * A queue that runs the work given to it one piece at a time, in the order
 * given; a piece that fails does not stop the next.
 */
export function serialQueue(): <T>(work: () => Promise<T> | T) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return (work) => {
    const run = last.then(work);
    last = run.catch(() => undefined);
    return run;
  };
}
