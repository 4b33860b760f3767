import { withEnv } from './process';

describe('withEnv', () => {
  const NAME = 'LIP_TEST_SUPPORT_WITH_ENV';
  afterEach(() => delete process.env[NAME]);

  it('sets the variables for the call, then unsets the ones that were unset', async () => {
    expect(await withEnv({ [NAME]: 'inside' }, () => process.env[NAME])).toBe('inside');
    expect(NAME in process.env).toBe(false);
  });

  it('puts a previous value back, also when the call throws or rejects', async () => {
    process.env[NAME] = 'before';
    await expect(
      withEnv({ [NAME]: 'inside' }, () => {
        throw new Error('failed');
      }),
    ).rejects.toThrow('failed');
    expect(process.env[NAME]).toBe('before');
    await expect(withEnv({ [NAME]: 'inside' }, () => Promise.reject(new Error('rejected')))).rejects.toThrow('rejected');
    expect(process.env[NAME]).toBe('before');
  });
});
