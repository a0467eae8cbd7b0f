// summary.mjs -- reads the JSON report vitest wrote for the conformance suite (tests/ds/run.sh)
// and prints, on the first line, "PASSED FAILED SKIPPED TOTAL", then one line per failed test,
// "Group > Subgroup > test name", then one line per test file that failed without a failed test
// (the suite did not load: "error: MESSAGE").
// Usage: node tests/ds/summary.mjs REPORT.json
import { readFileSync } from "node:fs"

const report = JSON.parse(readFileSync(process.argv[2], "utf8"))
let passed = 0
let failed = 0
let skipped = 0
let total = 0
const lines = []
for (const file of report.testResults ?? []) {
  let fileFailed = 0
  for (const t of file.assertionResults ?? []) {
    total++
    if (t.status === "passed") passed++
    else if (t.status === "failed") {
      failed++
      fileFailed++
      lines.push([...(t.ancestorTitles ?? []), t.title].join(" > "))
    } else skipped++ // skipped, pending, todo
  }
  if (file.status === "failed" && fileFailed === 0)
    lines.push(`error: ${String(file.message || "test file failed").split("\n")[0]}`)
}
console.log(`${passed} ${failed} ${skipped} ${total}`)
for (const l of lines) console.log(l)
