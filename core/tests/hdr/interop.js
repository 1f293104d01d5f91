// Test support for test_hdr_interop: runs hdr-histogram-js (an independent HdrHistogram
// implementation) over what our C code wrote, and encodes histograms for the C side to decode.
//
// usage: node interop.js <path to hdr-histogram-js> <input.json>
// input: {"percentiles": [...], "histograms": [{"name", "b64"}], "hlog": "<path>",
//         "recipes": [{"name", "L", "H", "S", "tag", "pairs": [[value, count], ...]}],
//         "startTimeMs": <number>}
// output (stdout, JSON): {"decoded": [...], "hlog": {...}, "encoded": [...], "jsHlog": "<text>"}
"use strict";

const fs = require("fs");

const [, , modulePath, inputPath] = process.argv;
const hdr = require(modulePath);
const input = JSON.parse(fs.readFileSync(inputPath, "utf8"));
const percentiles = input.percentiles;

function summarize(h) {
  return {
    total: h.totalCount,
    max: h.maxValue,
    minNonZero: h.totalCount > 0 ? h.minNonZeroValue : null,
    mean: h.mean,
    stddev: h.stdDeviation,
    p: percentiles.map((p) => h.getValueAtPercentile(p)),
  };
}

const out = { decoded: [], hlog: {}, encoded: [], jsHlog: "" };

// 1. Our base64 histograms.
for (const item of input.histograms) {
  const h = hdr.decodeFromCompressedBase64(item.b64, 64, false);
  const s = summarize(h);
  s.name = item.name;
  s.hgrm = h.outputPercentileDistribution(5, 1, false);
  out.decoded.push(s);
}

// 2. Our .hlog: every interval, the tag list, and the merge of the untagged intervals (what
// HistogramLogProcessor reports by default).
const text = fs.readFileSync(input.hlog, "utf8");
const reader = new hdr.HistogramLogReader(text, 64, false);
const intervals = [];
let merged = null;
for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) {
  const s = summarize(h);
  s.tag = h.tag;
  s.startMs = h.startTimeStampMsec;
  s.endMs = h.endTimeStampMsec;
  intervals.push(s);
  if (h.tag === "NO TAG") {
    if (merged === null) {
      merged = hdr.build({
        bitBucketSize: 64,
        lowestDiscernibleValue: 1,
        highestTrackableValue: h.highestTrackableValue,
        numberOfSignificantValueDigits: h.numberOfSignificantValueDigits,
        autoResize: false,
      });
    }
    merged.add(h);
  }
}
out.hlog = {
  tags: hdr.listTags(text),
  intervals,
  mergedUntagged: merged === null ? null : summarize(merged),
  startTimeSec: reader.startTimeSec,
  baseTimeSec: reader.baseTimeSec,
};

// 3. Histograms encoded by hdr-histogram-js, and a .hlog written by its HistogramLogWriter.
let log = "";
const writer = new hdr.HistogramLogWriter((s) => {
  log += s;
});
writer.outputLogFormatVersion();
writer.outputStartTime(input.startTimeMs);
writer.outputLegend();
let t = 0;
for (const r of input.recipes) {
  const h = hdr.build({
    bitBucketSize: 64,
    lowestDiscernibleValue: r.L,
    highestTrackableValue: r.H,
    numberOfSignificantValueDigits: r.S,
    autoResize: false,
  });
  for (const [value, count] of r.pairs) h.recordValueWithCount(value, count);
  const e = summarize(h);
  e.name = r.name;
  e.b64 = hdr.encodeIntoCompressedBase64(h);
  out.encoded.push(e);
  if (r.tag) h.tag = r.tag;
  writer.outputIntervalHistogram(h, t, t + 1, 1000000);
  t += 1;
}
out.jsHlog = log;

process.stdout.write(JSON.stringify(out));
