const { PNG } = require('pngjs');
for (const opts of [{ filterType: 1 }, { filterType: 0, deflateLevel: 1 }]) {
  const png = new PNG({ width: 640, height: 420, ...opts }); png.data.fill(255);
  const t = Date.now(); PNG.sync.write(png); console.log('node png', JSON.stringify(opts), Date.now() - t);
}
