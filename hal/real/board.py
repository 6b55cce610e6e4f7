"""Wiring of the payload computer (STM32F405-class MCU running MicroPython) and the
factory that builds the real HAL from it.

Every pin and bus number is in :data:`BOARD_CONFIG`; drivers receive bus and pin objects
(never create them), so they can be tested against fake buses. Pin names are STM32 CPU
pin names as ``machine.Pin`` accepts them on the stm32 port ("A4" = PA4).

Buses (SPI devices are grouped by SPI mode so no bus is ever re-initialised):

* SPI1, mode 0, 21 MHz: FPGA camera block (CS PA4), FPGA framer block (CS PA3),
  MCP4822 comparator DAC (CS PA2).
* SPI2, mode 1, 10.5 MHz: DAC8551 bias DAC (SYNC PB11).
* SPI3, mode 1, 21 MHz: AD5664 FSM DAC (SYNC PB12), alone: the mirror's waveform timer
  (``machine.Timer(-1)``, a soft timer: its callback runs between any two bytecodes)
  writes a sample a millisecond, so no other device's transfer may share the bus (a
  callback between a bias write's SYNC low and its octets would clock the mirror's
  frames into the bias DAC).
* I2C1, 400 kHz: TMP117 0x48 and 0x49, ADS1115 0x4A, INA3221 0x40 and 0x41.
* UART2, 115200 8N1: OBC link.

``build()`` does no bus traffic: call each device's ``init()`` (in the power order of
DESIGN 3.2) afterwards.
"""

from hal.interfaces import CAMERA_FRAME_PERIOD_US, Board
from hal.real.bias import Ads1115, Dac8551, SipmBias
from hal.real.camera import FpgaCamera
from hal.real.comparator import Mcp4822Comparator
from hal.real.framer import FpgaFramer
from hal.real.fsm import Ad5664Fsm
from hal.real.power import GpioPower, Ina3221
from hal.real.storage import FileStorage
from hal.real.tmp117 import Tmp117
from hal.real.uart_link import UartLink
from hal.real.watchdog import MachineWatchdog

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Optional  # noqa: F401

BOARD_CONFIG = {
    "name": "vector-pcu-rev-a",
    "spi_fpga": {"id": 1, "baudrate": 21000000, "polarity": 0, "phase": 0},
    "spi_dac": {"id": 2, "baudrate": 10500000, "polarity": 0, "phase": 1},
    # The mirror's DAC alone (see the module's docstring); the AD5664 clocks to 50 MHz.
    "spi_fsm": {"id": 3, "baudrate": 21000000, "polarity": 0, "phase": 1},
    "i2c": {"id": 1, "freq": 400000},
    "uart": {
        "id": 2,
        "baudrate": 115200,
        "rxbuf": 2048,
        "txbuf": 2048,
    },
    # frame_period_us: the sensor's frame, the APT's tick (hal.interfaces.CAMERA_FRAME_PERIOD_US).
    "camera": {"cs": "A4", "exposure_us": 1000, "gain": 1.0,
               "frame_period_us": CAMERA_FRAME_PERIOD_US},
    "framer": {"cs": "A3"},
    "comparator": {"cs": "A2", "initial_code": 2048},
    # timer: the waveform's sample timer, machine.Timer(-1) (the stm32 port's soft timer,
    # whole milliseconds: hal.interfaces.FSM_WAVE_PERIOD_US); None: first sample only.
    "fsm": {"sync": "B12", "hv_en": "C6", "fault": "C7", "timer": -1},
    "bias": {
        "sync": "B11",
        "adc_addr": 0x4A,
        # HV stage: V_bias = 16 x V_dac, V_dac = 2.5 V * code / 65536 (assumed board).
        "v_per_code": 40.0 / 65536,
        "v_offset": 0.0,
        # Limits: 0 V .. 32 V (onsemi MicroFJ-30035: V_br 24.2-24.7 V, over-voltage
        # up to 6 V, plus margin for the 21.5 mV/K coefficient).
        "v_min": 0.0,
        "v_max": 32.0,
        "monitor_ratio": 16.0,
    },
    "temps": [0x48, 0x49],
    "power": {
        # Index = SW_LASER_850, SW_LASER_525, SW_CAMERA, SW_SIPM_BIAS, SW_FRAMER.
        "en": ["C0", "C1", "C2", "C3", "C4"],
        "fault": ["B0", "B1", "B2", "B4", "B5"],
        "monitors": [0x40, 0x41],
        "channels": [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)],
        "shunt_mohm": [100, 100, 100, 100, 100],
    },
    "storage": {"root": "/flash/vector", "max_blob": 65536},
    "watchdog": {"id": 0, "timeout_max_ms": 32000},
}  # type: Dict[str, Any]


def build(config=None, machine_module=None, clock=None):
    # type: (Optional[Dict[str, Any]], Any, Any) -> Board
    """Create the buses, pins and drivers of the real backend.

    Args:
        config: a dict shaped like :data:`BOARD_CONFIG` (default: that one).
        machine_module: the ``machine`` module (default: imported here).
        clock: the real clock object of ``hal/clock.py``, stored in the Board.
    """
    if config is None:
        config = BOARD_CONFIG
    m = machine_module
    if m is None:
        import machine

        m = machine
    Pin = m.Pin

    def out(name, level):
        # type: (Any, int) -> Any
        return Pin(name, Pin.OUT, value=level)

    def inp(name):
        # type: (Any) -> Any
        return Pin(name, Pin.IN, Pin.PULL_UP)

    c = config["spi_fpga"]
    spi_fpga = m.SPI(c["id"], baudrate=c["baudrate"], polarity=c["polarity"], phase=c["phase"])
    c = config["spi_dac"]
    spi_dac = m.SPI(c["id"], baudrate=c["baudrate"], polarity=c["polarity"], phase=c["phase"])
    c = config["spi_fsm"]
    spi_fsm = m.SPI(c["id"], baudrate=c["baudrate"], polarity=c["polarity"], phase=c["phase"])
    c = config["i2c"]
    i2c = m.I2C(c["id"], freq=c["freq"])
    c = config["uart"]
    uart = m.UART(
        c["id"],
        c["baudrate"],
        timeout=0,
        timeout_char=0,
        rxbuf=c["rxbuf"],
        txbuf=c["txbuf"],
    )

    c = config["camera"]
    camera = FpgaCamera(spi_fpga, out(c["cs"], 1), exposure_us=c["exposure_us"], gain=c["gain"],
                        frame_period_us=c.get("frame_period_us", CAMERA_FRAME_PERIOD_US))
    framer = FpgaFramer(spi_fpga, out(config["framer"]["cs"], 1))
    c = config["comparator"]
    comparator = Mcp4822Comparator(spi_fpga, out(c["cs"], 1), initial_code=c["initial_code"])
    c = config["fsm"]
    fsm = Ad5664Fsm(
        spi_fsm,
        out(c["sync"], 1),
        out(c["hv_en"], 0),
        inp(c["fault"]) if c.get("fault") else None,
        # the waveform's sample timer (hal/real/fsm.py); none: first sample only
        timer=m.Timer(c["timer"]) if c.get("timer") is not None else None,
    )
    c = config["bias"]
    bias = SipmBias(
        Dac8551(spi_dac, out(c["sync"], 1)),
        Ads1115(i2c, c["adc_addr"]),
        v_per_code=c["v_per_code"],
        v_offset=c["v_offset"],
        v_min=c["v_min"],
        v_max=c["v_max"],
        monitor_ratio=c["monitor_ratio"],
    )
    temps = [Tmp117(i2c, a) for a in config["temps"]]
    c = config["power"]
    faults = c.get("fault")
    power = GpioPower(
        [out(p, 0) for p in c["en"]],
        [Ina3221(i2c, a) for a in c["monitors"]],
        c["channels"],
        c["shunt_mohm"],
        [inp(p) if p else None for p in faults] if faults else None,
    )
    c = config["storage"]
    storage = FileStorage(c["root"], max_blob=c["max_blob"])
    c = config["watchdog"]
    watchdog = MachineWatchdog(c["id"], machine_module=m, timeout_max_ms=c["timeout_max_ms"])
    return Board(
        camera=camera,
        fsm=fsm,
        temps=temps,
        bias=bias,
        comparator=comparator,
        framer=framer,
        link=UartLink(uart),
        storage=storage,
        watchdog=watchdog,
        power=power,
        clock=clock,
        name=config.get("name", "real"),
    )
