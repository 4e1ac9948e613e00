// Pushing a version: the resumable upload (chunks, resuming from the
// server's byte count after an error, the commit), the multipart body of a
// file set, and the Content-Type a single file goes as.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/api/client';
import { multipartBody, resumableUpload, typeOf, type ResumableIo, type UploadSession } from '../src/api/datasets';

/** A server's upload session in memory; fail(n) makes the n-th PATCH fail after storing `keep` bytes of it. */
function fakeServer(failures: { at: number; keep: number; error: unknown }[] = []) {
  let received = 0;
  let size = 0;
  let patches = 0;
  const data: number[] = [];
  const log: string[] = [];
  const session = (): UploadSession => ({
    id: 'up_1',
    owner: 'u',
    size,
    expect_sha256: null,
    received,
    state: 'open',
    sha256: null,
    created_at: '',
    expires_at: null,
  });
  const io: ResumableIo = {
    async create(n) {
      size = n;
      log.push(`create ${n}`);
      return session();
    },
    async patch(_id, chunk, first, total, onProgress) {
      patches++;
      log.push(`patch ${first}+${chunk.size}/${total}`);
      if (first !== received) throw new ApiError(409, 'wrong_offset', `the upload is at byte ${received}`);
      const bytes = new Uint8Array(await chunk.arrayBuffer());
      const f = failures.find((x) => x.at === patches);
      const keep = f ? Math.min(f.keep, bytes.length) : bytes.length;
      data.push(...bytes.slice(0, keep));
      received += keep;
      onProgress(keep);
      if (f) throw f.error;
      return session();
    },
    async offset() {
      log.push(`offset ${received}`);
      return received;
    },
    async commit() {
      log.push('commit');
      if (received !== size) throw new ApiError(409, 'incomplete', 'incomplete');
      return { sha256: 'x', bytes: received };
    },
    sleep: async () => {},
  };
  return { io, log, data: () => new Uint8Array(data) };
}

const blobOf = (n: number) => new Blob([Uint8Array.from({ length: n }, (_, i) => i % 251)]);

describe('resumable upload', () => {
  it('sends the chunks in order and commits', async () => {
    const s = fakeServer();
    const progress: number[] = [];
    const id = await resumableUpload(blobOf(25), { chunk: 10, onProgress: (sent) => progress.push(sent) }, s.io);
    expect(id).toBe('up_1');
    expect(s.log).toEqual(['create 25', 'patch 0+10/25', 'patch 10+10/25', 'patch 20+5/25', 'commit']);
    expect(s.data()).toEqual(new Uint8Array(await blobOf(25).arrayBuffer()));
    expect(progress.at(-1)).toBe(25);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('after a cut-off chunk, resumes from the bytes the server holds', async () => {
    const s = fakeServer([{ at: 2, keep: 4, error: new ApiError(0, 'network', 'The upload was cut off') }]);
    const retries: number[] = [];
    await resumableUpload(blobOf(25), { chunk: 10, onRetry: (n) => retries.push(n) }, s.io);
    expect(s.log).toEqual(['create 25', 'patch 0+10/25', 'patch 10+10/25', 'offset 14', 'patch 14+10/25', 'patch 24+1/25', 'commit']);
    expect(s.data()).toEqual(new Uint8Array(await blobOf(25).arrayBuffer()));
    expect(retries).toEqual([1]);
  });

  it('retries a server error, and gives up after maxRetries failures in a row', async () => {
    const err = new ApiError(503, 'store_busy', 'busy');
    const s = fakeServer([1, 2, 3].map((at) => ({ at, keep: 0, error: err })));
    await expect(resumableUpload(blobOf(5), { chunk: 10, maxRetries: 2 }, s.io)).rejects.toBe(err);
    expect(s.log.filter((l) => l === 'commit')).toEqual([]);
  });

  it('does not retry a refusal (413)', async () => {
    const err = new ApiError(413, 'too_large', 'past the declared size');
    const s = fakeServer([{ at: 1, keep: 0, error: err }]);
    await expect(resumableUpload(blobOf(5), { chunk: 10 }, s.io)).rejects.toBe(err);
    expect(s.log).toEqual(['create 5', 'patch 0+5/5']);
  });
});

describe('file set body', () => {
  it('is a multipart body of parts named file, their filename the path', async () => {
    const { body, contentType } = multipartBody(
      [
        { path: 'dir/a.txt', blob: new Blob(['A']) },
        { path: 'say "hi".txt', blob: new Blob(['BB']) },
      ],
      'XYZ',
    );
    expect(contentType).toBe('multipart/form-data; boundary=XYZ');
    const text = await body.text();
    expect(text).toBe(
      '--XYZ\r\nContent-Disposition: form-data; name="file"; filename="dir/a.txt"\r\nContent-Type: application/octet-stream\r\n\r\nA\r\n' +
        '--XYZ\r\nContent-Disposition: form-data; name="file"; filename="say %22hi%22.txt"\r\nContent-Type: application/octet-stream\r\n\r\nBB\r\n' +
        '--XYZ--\r\n',
    );
  });

  it('names single files by extension', () => {
    expect(typeOf('people.CSV')).toBe('text/csv');
    expect(typeOf('a.tsv')).toBe('text/tab-separated-values');
    expect(typeOf('set.tar')).toBe('application/x-tar');
    expect(typeOf('model.bin')).toBe('application/octet-stream');
  });
});
