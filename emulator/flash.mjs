// The Pico's QSPI flash chip, and the two peripherals through which the RP2040 talks to
// it outside XIP: the SSI (its data register) and IO_QSPI (the chip-select override).
//
// Stock rp2040js serves XIP reads from its flash array and ignores everything else, so
// littlefs can never be formatted. The boot ROM's and the SDK's flash routines send
// commands byte by byte through SSI DR0, with the chip select forced low through
// IO_QSPI GPIO_QSPI_SS_CTRL.OUTOVER; boot2 uses the SSI's own chip select. This models a
// W25Q16JV-like 2 MiB part: enough commands for boot, littlefs and machine.unique_id().

import { BasePeripheral } from 'rp2040js';

export const FLASH_BYTES = 2 * 1024 * 1024; // [bytes] RPI_PICO's flash
const PAGE = 256; // [bytes] page-program wraps inside a page
const JEDEC_ID = [0xef, 0x40, 0x15];
const STATUS2_QE = 0x02; // quad enable, as boot2 wants it

export class NorFlash {
  constructor(array, uniqueId) {
    this.array = array; // the emulator's flash array (XIP reads come straight from it)
    this.uniqueId = uniqueId; // 8 bytes: machine.unique_id()
    this.wel = false; // write enable latch
    this.selected = false;
    this.onWrite = () => {}; // called after every program or erase
    this._start();
  }

  _start() {
    this.cmd = -1;
    this.n = 0; // bytes of this transaction so far, the command included
    this.addr = 0;
  }

  select() {
    this.selected = true;
    this._start();
  }

  deselect() {
    if (this.selected && (this.cmd === 0x02 || this.cmd === 0x20 || this.cmd === 0x52 ||
        this.cmd === 0xd8 || this.cmd === 0xc7 || this.cmd === 0x60)) {
      this.wel = false; // a program or erase ends the write enable
    }
    this.selected = false;
    this._start();
  }

  // one byte out on MOSI; returns the byte on MISO
  transfer(b) {
    if (!this.selected) {
      return 0xff;
    }
    const i = this.n++;
    if (i === 0) {
      this.cmd = b;
      if (b === 0x06) this.wel = true;
      else if (b === 0x04) this.wel = false;
      else if ((b === 0xc7 || b === 0x60) && this.wel) this._erase(0, FLASH_BYTES);
      return 0;
    }
    switch (this.cmd) {
      case 0x05: // status register 1: never busy; WEL
        return this.wel ? 0x02 : 0x00;
      case 0x35: // status register 2
        return STATUS2_QE;
      case 0x9f:
        return i <= 3 ? JEDEC_ID[i - 1] : 0;
      case 0x4b: // unique id: 4 dummy bytes, then 8 id bytes
        return i >= 5 && i <= 12 ? this.uniqueId[i - 5] : 0;
      case 0x02: // page program
        if (i <= 3) {
          this.addr = (this.addr << 8) | b;
          return 0;
        }
        if (this.wel) {
          const page = this.addr & ~(PAGE - 1) & (FLASH_BYTES - 1);
          const at = page + ((this.addr + i - 4) & (PAGE - 1));
          this.array[at] &= b; // NOR: programming only clears bits
          this.onWrite();
        }
        return 0;
      case 0x20:
      case 0x52:
      case 0xd8: // erase 4, 32, 64 KiB
        if (i <= 3) {
          this.addr = (this.addr << 8) | b;
          if (i === 3 && this.wel) {
            const size = this.cmd === 0x20 ? 4096 : this.cmd === 0x52 ? 32768 : 65536;
            this._erase(this.addr & ~(size - 1), size);
          }
        }
        return 0;
      case 0x03: // read
      case 0x0b: {
        // fast read: one dummy byte after the address
        const skip = this.cmd === 0x0b ? 4 : 3;
        if (i <= 3) {
          this.addr = (this.addr << 8) | b;
          return 0;
        }
        if (i <= skip) return 0;
        return this.array[(this.addr + i - skip - 1) & (FLASH_BYTES - 1)];
      }
      default: // write status (QE stays set), continuous-read exit, release power-down
        return 0;
    }
  }

  _erase(start, size) {
    start &= FLASH_BYTES - 1;
    this.array.fill(0xff, start, Math.min(start + size, FLASH_BYTES));
    this.wel = false;
    this.onWrite();
  }
}

const SSI_SSIENR = 0x08;
const SSI_TXFLR = 0x20;
const SSI_RXFLR = 0x24;
const SSI_SR = 0x28;
const SSI_DR0 = 0x60;
const SR_TFNF = 0x02; // transmit FIFO not full
const SR_TFE = 0x04; // transmit FIFO empty
const SR_RFNE = 0x08; // receive FIFO not empty

// The SSI with a data path to the flash chip: each byte written to DR0 is clocked
// through the chip at once and its answer queued for reading. The other registers are
// the stock SSI's (`inner`; rp2040js does not export its class).
export class FlashSSI extends BasePeripheral {
  constructor(rp2040, name, inner, flash, chipSelect) {
    super(rp2040, name);
    this.inner = inner;
    this.flash = flash;
    this.cs = chipSelect; // the IO_QSPI override: is the chip select forced?
    this.rx = [];
  }

  readUint32(offset) {
    switch (offset) {
      case SSI_SR:
        return SR_TFNF | SR_TFE | (this.rx.length ? SR_RFNE : 0);
      case SSI_RXFLR:
        return this.rx.length;
      case SSI_TXFLR:
        return 0;
      case SSI_DR0: {
        const v = this.rx.length ? this.rx.shift() : 0;
        if (!this.rx.length && !this.cs.forced()) {
          this.flash.deselect(); // the SSI's own chip select rises when the frame is done
        }
        return v;
      }
    }
    return this.inner.readUint32(offset);
  }

  writeUint32(offset, value) {
    if (offset === SSI_DR0) {
      if (!this.cs.forced() && !this.flash.selected) {
        this.flash.select();
      }
      this.rx.push(this.flash.transfer(value & 0xff));
      return;
    }
    if (offset === SSI_SSIENR && !(value & 1)) {
      this.rx.length = 0; // disabling the SSI clears its FIFOs
      if (!this.cs.forced()) this.flash.deselect();
    }
    this.inner.writeUint32(offset, value);
  }
}

const SS_STATUS = 0x08; // GPIO_QSPI_SS_STATUS
const SS_CTRL = 0x0c; // GPIO_QSPI_SS_CTRL
const INFROMPAD = 1 << 17;
const OUTOVER_LOW = 2;
const OUTOVER_HIGH = 3;

// IO_QSPI: the QSPI pins' control registers; only the chip select's override matters.
export class QspiIO extends BasePeripheral {
  constructor(rp2040, name, flash) {
    super(rp2040, name);
    this.flash = flash;
    this.regs = new Map();
  }

  // SIO GPIO_HI_IN bit 1: the boot ROM samples the chip select pad for the BOOTSEL button
  selectPadHigh() {
    return (((this.regs.get(SS_CTRL) || 0) >> 8) & 3) !== OUTOVER_LOW;
  }

  forced() {
    const o = ((this.regs.get(SS_CTRL) || 0) >> 8) & 3;
    return o === OUTOVER_LOW || o === OUTOVER_HIGH;
  }

  readUint32(offset) {
    if (offset === SS_STATUS) {
      // the chip select pad reads high (BOOTSEL not pressed) unless it is driven low
      return this.selectPadHigh() ? INFROMPAD : 0;
    }
    return this.regs.get(offset) || 0;
  }

  writeUint32(offset, value) {
    const was = ((this.regs.get(SS_CTRL) || 0) >> 8) & 3;
    this.regs.set(offset, value >>> 0);
    if (offset === SS_CTRL) {
      const o = (value >> 8) & 3;
      if (o === OUTOVER_LOW && was !== OUTOVER_LOW) this.flash.select();
      else if (o !== OUTOVER_LOW && was === OUTOVER_LOW) this.flash.deselect();
    }
  }
}

// VREG_AND_CHIP_RESET: the boot ROM reads CHIP_RESET to tell a power-on from a debugger's
// rescue request; stock rp2040js answers all ones (a rescue: the ROM then stays in BOOTSEL).
export class ChipResetRegs extends BasePeripheral {
  constructor(rp2040, name) {
    super(rp2040, name);
    this.regs = new Map([[0x00, 0xb1], [0x04, 0x00], [0x08, 0x00]]); // VREG, BOD, CHIP_RESET
  }

  readUint32(offset) {
    return this.regs.get(offset) || 0;
  }

  writeUint32(offset, value) {
    if (offset === 0x08) return; // its flags are read-only or write-1-to-clear: all clear
    this.regs.set(offset, value >>> 0);
  }
}

// The QSPI pads as SIO reads them (GPIO_HI_IN): the chip select is pulled up, so the
// BOOTSEL button reads "not pressed" and the boot ROM boots from flash.
export function wireSelectPad(rp2040, qspi) {
  const sio = rp2040.sio;
  const read = sio.readUint32.bind(sio);
  sio.readUint32 = (offset) => {
    const v = read(offset);
    if (offset !== 0x008) return v;
    return qspi.selectPadHigh() ? v | 2 : v & ~2;
  };
}
