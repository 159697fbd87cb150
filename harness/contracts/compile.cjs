// Compiles mppconf's own contracts with solc-js (offline), run by the
// harness from the folder where it installed the pinned `solc` and
// `solady` npm packages. Reads a solc standard-JSON input on stdin,
// resolves `solady/...` imports from that install, and writes solc's
// standard-JSON output on stdout.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const input = fs.readFileSync(0, "utf8");
const soladySrc = path.join(__dirname, "node_modules", "solady", "src");

function findImports(importPath) {
  const prefix = "solady/";
  if (!importPath.startsWith(prefix)) {
    return { error: `import ${importPath} is not under solady/` };
  }
  const file = path.join(soladySrc, importPath.slice(prefix.length));
  try {
    return { contents: fs.readFileSync(file, "utf8") };
  } catch (e) {
    return { error: `cannot read ${file}: ${e.message}` };
  }
}

process.stdout.write(solc.compile(input, { import: findImports }));
