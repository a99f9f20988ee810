#!/usr/bin/env node
// Encodes every test string with the gpt-3-encoder package (an independent
// JavaScript GPT-2 encoder) and writes the expected ids for the C++ tests.
//
// Usage: node write_oracle_ids.js <unpacked package dir> <strings.json> <output.json>
'use strict';
const fs = require('fs');
const path = require('path');

const [packageDir, stringsPath, outputPath] = process.argv.slice(2);
if (!outputPath) {
  console.error('usage: write_oracle_ids.js <package dir> <strings.json> <output.json>');
  process.exit(2);
}
const { encode } = require(path.resolve(packageDir, 'Encoder.js'));
const strings = JSON.parse(fs.readFileSync(stringsPath, 'utf-8'));

const cases = strings.map((text) => {
  const ids = encode(text);
  // An undefined id would mean the oracle itself broke on this string.
  if (ids.some((id) => !Number.isInteger(id))) {
    throw new Error(`the oracle produced a non-integer id for ${JSON.stringify(text)}`);
  }
  return { text, ids };
});
fs.writeFileSync(outputPath, JSON.stringify(cases));
