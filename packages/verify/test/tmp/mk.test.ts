import * as fs from 'fs';
import { referenceConvModel } from '../models';
it('mk', () => {
  fs.writeFileSync('/tmp/lipt/ref.onnx', referenceConvModel(1));
  fs.writeFileSync('/tmp/lipt/ref-portable.onnx', referenceConvModel(1, 'portable'));
});
