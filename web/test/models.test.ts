import { describe, expect, it } from 'vitest';
import { featureList, numericColumns, parseVector, trainJobBody } from '../src/api/models';

describe('models', () => {
  it('builds the train job body, leaving empty options to the trainer', () => {
    expect(trainJobBody({ model: 'm', dataset: 'd', version: 2, columns: ['a', 'b'], hidden: '8,4,8', epochs: 20, lr: null, activation: undefined })).toEqual({
      name: 'train-m',
      program: 'train',
      inputs: ['d@2'],
      config: { dataset: 'd@2', model: 'm', columns: ['a', 'b'], hidden: '8,4,8', epochs: 20 },
    });
  });
  it('parses a vector and names the bad value', () => {
    expect(parseVector('1, 2.5 -3;4e2')).toEqual([1, 2.5, -3, 400]);
    expect(() => parseVector('1, x')).toThrow(/value 2/);
  });
  it('splits detector features', () => {
    expect(featureList('lat, lat:max  cpu')).toEqual(['lat', 'lat:max', 'cpu']);
  });
  it('finds the numeric columns of a single-file version', () => {
    const v = {
      number: 1, kind: 'file' as const, filename: 'd.csv', created_at: '',
      profiles: { 'd.csv': { columns: [{ name: 'a', type: 'float' }, { name: 's', type: 'string' }, { name: 'n', type: 'int' }] } },
    };
    expect(numericColumns(v)).toEqual(['a', 'n']);
    expect(numericColumns({ ...v, kind: 'fileset' })).toEqual([]);
    expect(numericColumns(undefined)).toEqual([]);
  });
});
