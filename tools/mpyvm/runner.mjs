// Runs one job inside the official MicroPython WebAssembly port (npm package pinned in
// package.json).  The job arrives as JSON on stdin:
//   {"files": [[vm_path, base64], ...], "code": "python source", "heapsize": bytes}
// Files are written into the VM's in-memory file system, then `code` runs.  Whatever the
// Python code prints goes to stdout; an uncaught Python exception prints its MicroPython
// traceback on stderr and the process exits with status 3.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "fs";
import path from "path";

const job = JSON.parse(fs.readFileSync(0, "utf8"));
const mp = await loadMicroPython({
  heapsize: job.heapsize || 8 * 1024 * 1024,
  pystack: job.pystack || 16 * 1024,
  linebuffer: true,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

// High-resolution time for benchmarks: the port's ticks_us only ticks every millisecond.
mp.registerJsModule("hrtime", {
  us: () => Number(process.hrtime.bigint() / 1000n),
});

function mkdirs(dir) {
  if (dir === "/" || dir === "") return;
  mkdirs(path.posix.dirname(dir));
  try { mp.FS.mkdir(dir); } catch (e) { /* exists */ }
}

for (const [vmPath, b64] of job.files || []) {
  mkdirs(path.posix.dirname(vmPath));
  mp.FS.writeFile(vmPath, Buffer.from(b64, "base64"));
}

try {
  mp.runPython(job.code);
} catch (e) {
  process.stderr.write(String(e && e.message ? e.message : e) + "\n");
  process.exitCode = 3;
}
