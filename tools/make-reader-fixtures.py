#!/usr/bin/python3
"""Makes the data-reader fixtures of issue 11 under packages/core/testdata/readers/, written by NumPy and Pillow.

Run from the repository root with Debian's Python (a pyenv `python3` on PATH does not see Debian's
dist-packages, hence /usr/bin/python3):

    apt-get install python3-numpy python3-pil
    /usr/bin/python3 tools/make-reader-fixtures.py

The tests never run Python: they read these files and recompute the expected values from the same formulas
(`value(i)` below, i = the element's row-major index), or compare decoded images with the arrays Pillow decoded
(`<name>.expected.npy`).

- npy/<name>.npy: one (2, 3, 4) array per dtype and byte order, C and Fortran order, format versions 1.0, 2.0 and
  3.0, a scalar, an empty array, and arrays lip must refuse (objects, strings, structured, complex, datetimes).
- npz/: numpy.savez (stored entries) and numpy.savez_compressed (deflated), with the pair names lip reads.
- images/: PNG (gray, RGB, RGBA, palette, 16-bit gray, gray+alpha) and JPEG (gray, RGB, progressive, CMYK),
  8 x 6 pixels.
"""
import os

import numpy as np
from PIL import Image

ROOT = os.path.join('packages', 'core', 'testdata', 'readers')
SHAPE = (2, 3, 4)


def value(n, dtype):
    """The fixture formula: element i of an array of n elements (tests recompute it)."""
    i = np.arange(n)
    kind = np.dtype(dtype).kind
    if kind == 'b':
        return i % 3 == 0
    if kind == 'u':
        return (i * 7) % 23
    if kind == 'i':
        return (i * 7) % 23 - 5
    return i * 0.25 - 2.5


def arr(shape, dtype):
    n = int(np.prod(shape))
    return value(n, dtype).astype(dtype).reshape(shape)


def write_npy():
    out = os.path.join(ROOT, 'npy')
    os.makedirs(out, exist_ok=True)
    dtypes = {
        'f4_le': '<f4', 'f4_be': '>f4', 'f8_le': '<f8', 'f8_be': '>f8', 'f2_le': '<f2', 'u1': '|u1', 'i1': '|i1',
        'b1': '|b1', 'i2_le': '<i2', 'i2_be': '>i2', 'u2_le': '<u2', 'i4_le': '<i4', 'i4_be': '>i4', 'u4_le': '<u4',
        'i8_le': '<i8', 'i8_be': '>i8', 'u8_le': '<u8',
    }
    for name, dt in dtypes.items():
        np.save(os.path.join(out, name + '.npy'), arr(SHAPE, dt))
    # Fortran order: the same logical arrays, stored column-major.
    np.save(os.path.join(out, 'f4_fortran.npy'), np.asfortranarray(arr(SHAPE, '<f4')))
    np.save(os.path.join(out, 'i2_be_fortran.npy'), np.asfortranarray(arr(SHAPE, '>i2')))
    for version in [(2, 0), (3, 0)]:
        with open(os.path.join(out, 'v%d.npy' % version[0]), 'wb') as f:
            np.lib.format.write_array(f, arr(SHAPE, '<f4'), version=version)
    np.save(os.path.join(out, 'scalar.npy'), np.array(7.5, dtype='<f8'))
    np.save(os.path.join(out, 'empty.npy'), np.zeros((0, 3), dtype='<f4'))
    # Refused by lip.
    np.save(os.path.join(out, 'object.npy'), np.array([{'a': 1}, None], dtype=object), allow_pickle=True)
    np.save(os.path.join(out, 'unicode.npy'), np.array(['cat', 'dog']))
    np.save(os.path.join(out, 'structured.npy'), np.zeros(2, dtype=[('x', '<f4'), ('y', '<i4')]))
    np.save(os.path.join(out, 'complex.npy'), np.zeros(2, dtype='<c8'))
    np.save(os.path.join(out, 'datetime.npy'), np.array(['2024-01-01'], dtype='datetime64[D]'))


def write_npz():
    out = os.path.join(ROOT, 'npz')
    os.makedirs(out, exist_ok=True)
    np.savez(os.path.join(out, 'stored_xy.npz'), x=arr((5, 4, 4, 1), '|u1'), y=(np.arange(5) % 3).astype('|u1'))
    np.savez_compressed(
        os.path.join(out, 'deflated_keras.npz'),
        x_train=arr((6, 4, 4), '|u1'), y_train=(np.arange(6) % 4).astype('<i8'),
        x_test=arr((3, 4, 4), '|u1'), y_test=(np.arange(3) % 4).astype('|u1').reshape(3, 1))
    np.savez_compressed(
        os.path.join(out, 'nchw_f4.npz'),
        images=(arr((4, 3, 5, 6), '<f4') / 10).astype('<f4'), labels=np.array([1, 0, 2, 1], dtype='<i4'))


def write_images():
    out = os.path.join(ROOT, 'images')
    os.makedirs(out, exist_ok=True)
    h, w = 6, 8
    y, x = np.mgrid[0:h, 0:w]
    # Smooth gradients, so JPEG's losses stay small.
    rgb = np.stack([x * 11 + y * 14 + c * 50 for c in range(3)], axis=-1).astype(np.uint8)
    gray = (x * 20 + y * 15).astype(np.uint8)
    alpha = ((x + y) * 18).astype(np.uint8)
    images = {
        'gray.png': Image.fromarray(gray, 'L'),
        'rgb.png': Image.fromarray(rgb, 'RGB'),
        'rgba.png': Image.fromarray(np.dstack([rgb, alpha]), 'RGBA'),
        'la.png': Image.fromarray(np.dstack([gray, alpha]), 'LA'),
        'palette.png': Image.fromarray(rgb, 'RGB').quantize(colors=16),
        'gray.jpg': Image.fromarray(gray, 'L'),
        'rgb.jpg': Image.fromarray(rgb, 'RGB'),
        'rgb_progressive.jpg': Image.fromarray(rgb, 'RGB'),
        'cmyk.jpg': Image.fromarray(rgb, 'RGB').convert('CMYK'),
    }
    for name, im in images.items():
        path = os.path.join(out, name)
        if name.endswith('.jpg'):
            im.save(path, quality=95, progressive=name.startswith('rgb_progressive'))
        else:
            im.save(path)
        decoded = Image.open(path)
        expected = decoded.convert('L' if decoded.mode in ('L', 'LA') else 'RGB')
        np.save(path + '.expected.npy', np.asarray(expected))
    # 16-bit gray: the expected array keeps the 16-bit values (lip reduces them to 8 bits).
    gray16 = (x * 8000 + y * 1000).astype(np.uint16)
    Image.fromarray(gray16, 'I;16').save(os.path.join(out, 'gray16.png'))
    np.save(os.path.join(out, 'gray16.png.expected.npy'), np.asarray(Image.open(os.path.join(out, 'gray16.png'))).astype('<u2'))


if __name__ == '__main__':
    write_npy()
    write_npz()
    write_images()
    print('wrote', ROOT)
