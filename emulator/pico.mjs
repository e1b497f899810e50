// The emulated Raspberry Pi Pico: an RP2040 in rp2040js running MicroPython's own rp2
// image, its USB CDC port on this process's standard input and output.
//
//   node pico.mjs --uf2 RPI_PICO-v1.28.0.uf2 --bootrom rp2040-bootrom-b1.bin [--flash-image F]
//
// What stock rp2040js lacks, and is added here (docs/emulator.md):
// - a NOR flash behind the SSI (flash.mjs), so littlefs formats, mounts and keeps files;
// - host-to-device CDC flow control: bytes from the host wait here until the device arms
//   its OUT endpoint (stock rp2040js drops them past a 512-byte FIFO);
// - idle time at wall-clock pace (stock rp2040js skips it, so every timeout on the board
//   fires early), with a byte from the host waking the CPU at once;
// - a chip reset (machine.reset(), a watchdog that is not fed) that restarts the RP2040
//   with its flash kept, as a USB re-enumeration looks to the host.
// SIGUSR1 resets the chip as its RUN pin (a reset button) does; SIGTERM ends the emulator.
// Messages for people go to stderr, one line each, prefixed "pico-emu:".

import { readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { RP2040, USBCDC } from 'rp2040js';
import { ChipResetRegs, FLASH_BYTES, FlashSSI, NorFlash, QspiIO, wireSelectPad } from './flash.mjs';

const FS_BYTES = 1408 * 1024; // [bytes] RPI_PICO's MICROPY_HW_FLASH_STORAGE_BYTES, at the end of flash
const FS_OFFSET = FLASH_BYTES - FS_BYTES;
const SLICE_MS = 15; // [ms] of wall time the CPU runs before the event loop gets a turn
const MAX_LAG_NS = 5e6; // [ns] emulated time may catch up at most this much of the wall clock when idle
const AHEAD_NS = 1e6; // [ns] ... and run at most this much ahead of it
const SAVE_DELAY_MS = 300; // [ms] the flash image is written this long after the last flash write

function say(msg) {
  process.stderr.write(`pico-emu: ${msg}\n`);
}

function parseArgs(argv) {
  const opts = { uf2: null, bootrom: null, flashImage: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--uf2') opts.uf2 = v;
    else if (a === '--bootrom') opts.bootrom = v;
    else if (a === '--flash-image') opts.flashImage = v;
    else {
      say(`unknown option ${a}`);
      process.exit(2);
    }
    i++;
  }
  if (!opts.uf2 || !opts.bootrom) {
    say('usage: pico.mjs --uf2 FILE --bootrom FILE [--flash-image FILE]');
    process.exit(2);
  }
  return opts;
}

// UF2 blocks: 512 bytes, payload at 32, target address at 12, payload size at 16
function loadUF2(path, flash) {
  const data = readFileSync(path);
  let blocks = 0;
  for (let off = 0; off + 512 <= data.length; off += 512) {
    if (data.readUInt32LE(off) !== 0x0a324655 || data.readUInt32LE(off + 4) !== 0x9e5d5157) {
      throw new Error(`${path}: not a UF2 file (bad block at byte ${off})`);
    }
    const addr = data.readUInt32LE(off + 12) - 0x10000000;
    const size = data.readUInt32LE(off + 16);
    if (addr < 0 || addr + size > FS_OFFSET) {
      throw new Error(`${path}: a block outside the firmware's part of the flash`);
    }
    flash.set(data.subarray(off + 32, off + 32 + size), addr);
    blocks++;
  }
  if (!blocks) throw new Error(`${path}: no UF2 blocks`);
}

function loadBootrom(path) {
  const bytes = readFileSync(path);
  if (bytes.length !== 16384) throw new Error(`${path}: ${bytes.length} bytes, a boot ROM has 16384`);
  const words = new Uint32Array(4096);
  for (let i = 0; i < 4096; i++) words[i] = bytes.readUInt32LE(4 * i);
  return words;
}

const quiet = { debug() {}, info() {}, warn() {}, error(component, msg) { say(`${component}: ${msg}`); } };

class Pico {
  constructor(opts) {
    this.opts = opts;
    this.bootrom = loadBootrom(opts.bootrom);
    this.flash = new Uint8Array(FLASH_BYTES).fill(0xff); // kept across chip resets
    loadUF2(opts.uf2, this.flash);
    if (opts.flashImage && existsSync(opts.flashImage)) {
      const fs = readFileSync(opts.flashImage);
      if (fs.length !== FS_BYTES) {
        throw new Error(`${opts.flashImage}: ${fs.length} bytes, a flash image has ${FS_BYTES}`);
      }
      this.flash.set(fs, FS_OFFSET);
    }
    const seed = createHash('sha256').update(opts.flashImage || 'lander-pico-emu').digest();
    this.uniqueId = seed.subarray(0, 8);
    this.hostQueue = []; // Buffers from the host not yet handed to the device
    this.pendingRead = null; // [endpoint, size] of an armed OUT endpoint waiting for bytes
    this.sleepTimer = null;
    this.saveTimer = null;
    this.resets = 0;
    this.boot();
  }

  boot() {
    const mcu = new RP2040();
    mcu.logger = quiet;
    mcu.loadBootrom(this.bootrom); // resets the core, and fills rp2040js's own flash: refill it
    mcu.flash.set(this.flash);
    this.flash = mcu.flash.subarray(0, FLASH_BYTES); // the chip's array is the flash from now on
    const chip = new NorFlash(this.flash, this.uniqueId);
    chip.onWrite = () => this.flashWritten();
    const qspi = new QspiIO(mcu, 'IO_QSPI_BASE', chip);
    mcu.peripherals[0x40018] = qspi;
    mcu.peripherals[0x40064] = new ChipResetRegs(mcu, 'VREG_AND_CHIP_RESET_BASE');
    wireSelectPad(mcu, qspi);
    mcu.peripherals[0x18000] = new FlashSSI(mcu, 'SSI', mcu.peripherals[0x18000], chip, qspi);
    mcu.watchdog = mcu.peripherals[0x40058];
    mcu.watchdog.onWatchdogTrigger = () => this.chipReset();

    const cdc = new USBCDC(mcu.usbCtrl);
    cdc.onSerialData = (data) => process.stdout.write(Buffer.from(data));
    // flow control: an armed OUT endpoint is answered only when the host has bytes
    mcu.usbCtrl.onEndpointRead = (endpoint, size) => {
      if (endpoint !== cdc.outEndpoint) return;
      this.pendingRead = [endpoint, size];
      this.feedDevice();
    };
    this.mcu = mcu;
    this.cdc = cdc;
    this.pendingRead = null;
    this.hostQueue = []; // a re-enumeration loses what the host had not delivered
    this.anchorWall = performance.now() * 1e6; // [ns] emulated time follows the wall clock from
    this.anchorEmu = 0; // [ns] this pair on, while the CPU idles
    this.wasBusy = false;
    this.resetPending = false;
  }

  feedDevice() {
    if (!this.pendingRead || !this.hostQueue.length) return;
    const [endpoint, size] = this.pendingRead;
    const out = new Uint8Array(size);
    let n = 0;
    while (n < size && this.hostQueue.length) {
      const head = this.hostQueue[0];
      const k = Math.min(size - n, head.length);
      out.set(head.subarray(0, k), n);
      n += k;
      if (k === head.length) this.hostQueue.shift();
      else this.hostQueue[0] = head.subarray(k);
    }
    this.pendingRead = null;
    this.mcu.usbCtrl.endpointReadDone(endpoint, out.subarray(0, n));
  }

  fromHost(data) {
    this.hostQueue.push(data);
    this.feedDevice();
    this.wake();
  }

  chipReset() {
    // called from inside an instruction: finish it, then restart the chip
    this.resetPending = true;
  }

  flashWritten() {
    if (!this.opts.flashImage || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.saveFlash();
    }, SAVE_DELAY_MS);
  }

  saveFlash() {
    const path = this.opts.flashImage;
    if (!path) return;
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, this.flash.subarray(FS_OFFSET));
    renameSync(tmp, path);
  }

  wake() {
    if (this.sleepTimer) {
      clearTimeout(this.sleepTimer);
      this.sleepTimer = null;
      setImmediate(() => this.run());
    }
  }

  // Run the CPU for a slice of wall time. While the core waits for an interrupt, emulated
  // time follows the wall clock: it jumps to the next alarm only when the wall clock has
  // reached it, and otherwise sleeps until then or until the host sends a byte.
  run() {
    const end = performance.now() + SLICE_MS;
    for (;;) {
      if (this.resetPending) {
        this.resets++;
        say(`chip reset ${this.resets} (machine.reset(), the watchdog or the RUN pin); flash kept`);
        this.boot();
      }
      const { core } = this.mcu;
      const { clock } = this.mcu;
      if (!core.waiting) {
        this.wasBusy = true;
        const cycleNs = 1e9 / this.mcu.clkSys; // [ns] the system clock as the PLL sets it
        for (let i = 0; i < 20000 && !core.waiting && !this.resetPending; i++) {
          clock.tick(core.executeInstruction() * cycleNs);
        }
        if (performance.now() > end) break;
        continue;
      }
      const wall = performance.now() * 1e6; // [ns]
      let line = this.anchorEmu + (wall - this.anchorWall); // wall-clock pace
      if (this.wasBusy && clock.nanos < line - MAX_LAG_NS) {
        // the CPU was busy for longer than real time (an emulated CPU is slower than a
        // real one): do not replay that lag as idle time
        this.anchorEmu = clock.nanos + MAX_LAG_NS;
        this.anchorWall = wall;
        line = this.anchorEmu;
      }
      this.wasBusy = false;
      const toNext = clock.nextAlarm ? clock.nanosToNextAlarm : Infinity;
      if (clock.nanos + toNext <= line + AHEAD_NS) {
        clock.tick(toNext); // the alarm is due: take it (the core may wake)
        if (performance.now() > end) break;
        continue;
      }
      const due = clock.nanos + toNext; // [ns]
      if (line > clock.nanos) clock.tick(line - clock.nanos);
      const ms = toNext === Infinity ? 50 : Math.max(1, Math.min(50, (due - line) / 1e6));
      this.sleepTimer = setTimeout(() => {
        this.sleepTimer = null;
        this.run();
      }, ms);
      return;
    }
    setImmediate(() => this.run());
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  let pico;
  try {
    pico = new Pico(opts);
  } catch (e) {
    say(e.message);
    process.exit(2);
  }
  const stop = () => {
    if (pico.saveTimer) clearTimeout(pico.saveTimer);
    pico.saveFlash();
    process.exit(0);
  };
  process.stdin.on('data', (data) => pico.fromHost(data));
  process.stdin.on('end', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGUSR1', () => {
    // the RUN pin pulled low: a chip reset from outside, as the reset button does
    pico.chipReset();
    pico.wake();
  });
  process.stdout.on('error', stop); // the host side went away
  say(`RP2040 at 125 MHz, ${opts.uf2}`);
  pico.run();
}

main();
