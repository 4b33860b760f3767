import { InvalidArgumentError } from '@lip/core';
import { uniformArray } from '@lip/test-support';
import { orthonormalLinearModel, productModel } from '@lip/test-support/onnx';
import { multiclassCertificates } from './certificates';
import { certifyLogits, chooseLipschitz } from './model_certificates';
import { readOnnxModel } from './onnx/read';

describe('chooseLipschitz', () => {
  const logits = Float32Array.from(uniformArray(5 * 10, 9, -3, 3));

  it('certifies nothing where the graph has no certified bound and no --lipschitz is given, even with a metadata claim', () => {
    for (const claim of [undefined, 1]) {
      const choice = chooseLipschitz(readOnnxModel(productModel(4, 4, 10, 3, claim)));
      expect(choice).toMatchObject({ used: null, source: null, proven: false, bound: null, head: null, claimed: claim ?? null });
      expect(choice.boundError).toMatch(/Mul.*multiplies two input-dependent tensors/);
      expect(choice.warnings).toHaveLength(1);
      expect(choice.warnings[0]).toMatch(/nothing is certified.*pass --lipschitz L to certify with L as your own claim/);
      if (claim !== undefined) expect(choice.warnings[0]).toMatch(/the file claims lipschitz_constant = 1, which lip cannot check/);
      expect(certifyLogits(choice, logits, 10)).toBeNull();
    }
  });

  it("takes --lipschitz as the user's claim, not a proof, with multiclass certificates", () => {
    const choice = chooseLipschitz(readOnnxModel(productModel(4, 4, 10, 3)), { lipschitz: 2 });
    expect(choice).toMatchObject({ used: 2, source: 'user', proven: false, override: 2, head: null });
    expect(choice.warnings[0]).toMatch(/certifying with --lipschitz 2: YOUR CLAIM, NOT A PROOF/);
    const c = certifyLogits(choice, logits, 10)!;
    expect(c.kind).toBe('multiclass');
    expect(Array.from(c.certificates)).toEqual(Array.from(multiclassCertificates(logits, 10, 2)));
  });

  it('with a certified bound: the claim when at least the bound, else the bound; proven either way', () => {
    const honest = readOnnxModel(orthonormalLinearModel(4, 4, 10, 5, 1, 2).bytes);
    expect(chooseLipschitz(honest)).toMatchObject({ used: 2, source: 'metadata', proven: true, claimed: 2 });
    expect(chooseLipschitz(honest, { lipschitz: 3 })).toMatchObject({ used: 3, source: 'user', proven: true });
    const cheat = chooseLipschitz(readOnnxModel(orthonormalLinearModel(4, 4, 10, 5, 4, 1).bytes));
    expect(cheat.source).toBe('bound');
    expect(cheat.used).toBe(cheat.bound!.total);
    expect(cheat.used).toBeGreaterThan(3.99);
    expect(cheat.head!.bodyLipschitz).toBeGreaterThan(0);
    expect(certifyLogits(cheat, logits, 10)!.kind).toBe('head-aware');
    expect(() => chooseLipschitz(honest, { lipschitz: 0 })).toThrow(InvalidArgumentError);
  });
});
