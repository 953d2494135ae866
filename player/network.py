"""The network model: a trace turned into virtual time.

A request first waits the current period's latency once (time to first bit; a wait that crosses into
the next period continues at that period's latency, pro rata), then its bits arrive at each period's
bandwidth as time moves through the periods. The trace loops. This is the model of the Sabre
reference simulator (Spiteri et al., MMSys 2018), which the parity bench checks us against.

Downloads that may be abandoned advance in steps of at least ``min_step_bits`` and ``min_step_s``
(12 000 bits, 50 ms, as in Sabre), after each of which the player may give up.
"""

from __future__ import annotations

from player.trace import Trace

__all__ = ["Network"]


class Network:
    """Virtual time over a looping trace. ``now`` is seconds since the session began."""

    min_step_bits = 12000.0
    min_step_s = 0.05

    def __init__(self, trace: Trace, *, latency_s: float | None = None) -> None:
        self.trace = trace
        self._latency = latency_s
        self._i = -1
        self._left = 0.0  # seconds left in the current period
        self.now = 0.0
        self._next_period()

    def _next_period(self) -> None:
        self._i = (self._i + 1) % len(self.trace.periods)
        self._left = self.trace.periods[self._i].duration

    @property
    def bandwidth(self) -> float:
        return self.trace.periods[self._i].bandwidth

    @property
    def latency(self) -> float:
        return self.trace.periods[self._i].latency if self._latency is None else self._latency

    def _advance(self, seconds: float) -> None:
        self._left -= seconds
        self.now += seconds

    def _finish_period(self) -> float:
        spent = self._left
        self.now += spent
        self._next_period()
        return spent

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass with nothing downloading."""
        while seconds > self._left:
            seconds -= self._finish_period()
        self._advance(seconds)

    def first_bit(self) -> float:
        """Wait one request latency; return the seconds it took."""
        units = 1.0
        spent = 0.0
        while units > 0:
            latency = self.latency
            need = units * latency
            if need <= self._left:
                self._advance(need)
                return spent + need
            units -= self._left / latency
            spent += self._finish_period()
        return spent

    def transfer(self, bits: float) -> float:
        """Move ``bits`` at the trace's rates; return the seconds it took."""
        spent = 0.0
        while bits > 0:
            rate = self.bandwidth
            if bits <= self._left * rate:
                t = bits / rate
                self._advance(t)
                return spent + t
            bits -= self._left * rate
            spent += self._finish_period()
        return spent

    def transfer_step(self, bits: float) -> tuple[float, float]:
        """Move at most ``bits``, but stop once ``min_step_bits`` and ``min_step_s`` worth of the current
        rate have arrived; return ``(bits moved, seconds)``."""
        return self.transfer_at_least(bits, self.min_step_bits, self.min_step_s)

    def transfer_at_least(self, bits: float, min_bits: float, min_s: float) -> tuple[float, float]:
        """Move bits until ``bits`` are done or both minimums are met; return ``(bits moved, seconds)``."""
        moved = 0.0
        spent = 0.0
        while bits > 0 and (min_bits > 0 or min_s > 0):
            rate = self.bandwidth
            if rate > 0:
                wanted = max(min_bits, min_s * rate)
                to_period_end = self._left * rate
                if bits <= wanted and bits <= to_period_end:
                    got, t = bits, bits / rate
                    self._advance(t)
                elif wanted <= to_period_end:
                    got, t = wanted, wanted / rate
                    self._advance(t)
                    min_bits = min_s = 0.0  # met; rounding must not keep the loop alive
                else:
                    got = to_period_end
                    t = self._finish_period()
            else:
                got = 0.0
                if min_bits > 0 or min_s > self._left:
                    t = self._finish_period()
                else:
                    t = min_s
                    self._advance(t)
            moved += got
            spent += t
            bits -= got
            min_bits -= got
            min_s -= t
        return moved, spent
