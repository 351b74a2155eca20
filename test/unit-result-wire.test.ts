/** The flat results array a worker sends back: written and read only through protocol.ts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  appendResult,
  ResultStatus,
  type ResultWire,
  resultCount,
  resultId,
  resultRunMs,
  resultStatus,
  resultValue,
} from '../src/worker/protocol.js';

describe('ResultWire', () => {
  it('reads back every result in the order it was appended', () => {
    const results: ResultWire = [];
    appendResult(results, 7, ResultStatus.OK, { sum: 3 }, 1.5);
    appendResult(results, 8, ResultStatus.FAILED, { name: 'Error', message: 'no' }, 0.25);
    appendResult(results, 9, ResultStatus.SKIPPED, undefined, 0);
    assert.equal(resultCount(results), 3);
    const read = Array.from({ length: resultCount(results) }, (_, i) => [
      resultId(results, i),
      resultStatus(results, i),
      resultValue(results, i),
      resultRunMs(results, i),
    ]);
    assert.deepEqual(read, [
      [7, ResultStatus.OK, { sum: 3 }, 1.5],
      [8, ResultStatus.FAILED, { name: 'Error', message: 'no' }, 0.25],
      [9, ResultStatus.SKIPPED, undefined, 0],
    ]);
  });

  it('survives a structured clone, as it crosses threads', () => {
    const results: ResultWire = [];
    appendResult(results, 1, ResultStatus.OK, new Map([['a', 1]]), 2);
    const cloned = structuredClone(results);
    assert.equal(resultCount(cloned), 1);
    assert.deepEqual(resultValue(cloned, 0), new Map([['a', 1]]));
    assert.equal(resultRunMs(cloned, 0), 2);
  });

  it('an empty batch holds no results', () => {
    assert.equal(resultCount([]), 0);
  });
});
