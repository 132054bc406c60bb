"""Stopping long work on Ctrl-C within about a second, in every mode.

Python delivers Ctrl-C (``KeyboardInterrupt``) to the main thread only, and only between
bytecodes: a thread inside a long C call (HiGHS solving the ``optimal`` LP, a large
factorisation) does not see it until the call returns, which can take minutes. So
:func:`call_interruptibly` runs the work in a worker thread while the main thread waits; on
Ctrl-C it

1. sets :data:`CANCEL`, which the HiGHS interrupt callbacks installed by
   :func:`install_solver_hooks` turn into HiGHS' user interrupt (``highspy`` and the HiGHS inside
   ``scipy.optimize.linprog``), so a running solve returns within a few tenths of a second and
   its ``run()`` then raises ``KeyboardInterrupt`` in the worker;
2. otherwise (the worker is not inside a hooked solve) raises ``KeyboardInterrupt`` in the
   worker (``PyThreadState_SetAsyncExc``) so it unwinds through its ``finally`` blocks (e.g.
   :func:`stresstest.economy.write_atomic` removes its temporary file) as soon as it runs Python
   code again. Never during a solve: the exception would surface inside a HiGHS callback and
   unwind through C++ code;
3. waits up to ``grace`` seconds for the worker, then raises :class:`Interrupted`, whose
   ``stuck`` says whether the worker is still running (then the caller should leave with
   ``os._exit``; :func:`abandon` removes the temporary file of a write in progress first).

The hooks change nothing until :data:`CANCEL` is set; without them (other solver versions)
step 3 still bounds the delay. Nothing here touches the numerical kernels.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import types

#: Set on Ctrl-C; solver callbacks interrupt HiGHS while it is set.
CANCEL = threading.Event()

#: Seconds the main thread waits for the worker to unwind after Ctrl-C.
GRACE = 1.0

#: Guards :data:`_solving` and the decision to raise into a worker.
_lock = threading.Lock()
#: Idents of the threads inside a hooked solver ``run()``.
_solving: set[int] = set()


def _enter_solve() -> None:
    with _lock:
        if CANCEL.is_set():
            raise KeyboardInterrupt
        _solving.add(threading.get_ident())


def _leave_solve() -> None:
    with _lock:
        _solving.discard(threading.get_ident())
        if CANCEL.is_set():
            raise KeyboardInterrupt


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`call_interruptibly`; ``stuck``: the worker has not stopped yet."""

    def __init__(self, stuck: bool = False, worker: threading.Thread | None = None):
        super().__init__("interrupted")
        self.stuck = stuck
        self.worker = worker


def cancelled() -> bool:
    """Whether Ctrl-C was pressed (long loops may check this)."""
    return CANCEL.is_set()


# --------------------------------------------------------------------------- solver hooks


def _interrupt_event(event) -> None:  # highspy's HighsCallbackEvent
    if CANCEL.is_set():
        event.interrupt()


def _raw_interrupt(callback_type, message, data_out, data_in, user_data) -> None:
    if CANCEL.is_set() and data_in is not None:
        data_in.user_interrupt = True


def _hook_highspy() -> None:
    import highspy

    base = highspy.Highs
    if getattr(base, "_stresstest_interruptible", False):
        return

    class Highs(base):
        """``highspy.Highs`` that stops (model status ``Interrupt``) once Ctrl-C is pressed."""

        _stresstest_interruptible = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for name in ("cbSimplexInterrupt", "cbIpmInterrupt", "cbMipInterrupt"):
                getattr(self, name).subscribe(_interrupt_event)

        def run(self):
            _enter_solve()
            try:
                return super().run()
            finally:
                _leave_solve()

    Highs.__name__ = Highs.__qualname__ = base.__name__
    Highs.__module__ = base.__module__
    highspy.Highs = Highs


def _hook_scipy() -> None:
    from scipy.optimize._highspy import _highs_wrapper

    core = _highs_wrapper._h
    if getattr(core, "_stresstest_interruptible", False):
        return
    kinds = [getattr(core.cb.HighsCallbackType, k) for k in
             ("kCallbackSimplexInterrupt", "kCallbackIpmInterrupt", "kCallbackMipInterrupt")
             if hasattr(core.cb.HighsCallbackType, k)]

    class _Highs(core._Highs):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.setCallback(_raw_interrupt, None)
            for kind in kinds:
                self.startCallback(kind)

        def run(self):
            _enter_solve()
            try:
                return super().run()
            finally:
                _leave_solve()

    proxy = types.ModuleType(core.__name__)
    proxy.__dict__.update(core.__dict__)
    proxy._Highs = _Highs
    proxy._stresstest_interruptible = True
    _highs_wrapper._h = proxy


def install_solver_hooks() -> list[str]:
    """Make HiGHS solves (``highspy`` and ``scipy.optimize.linprog(method="highs*")``) stop
    when :data:`CANCEL` is set. Idempotent; a library whose internals differ is left alone.
    Returns the names of the libraries hooked."""
    done = []
    for name, hook in (("highspy", _hook_highspy), ("scipy", _hook_scipy)):
        try:
            hook()
            done.append(name)
        except Exception:  # noqa: BLE001 - optional: without it the grace period still applies
            pass
    return done


# --------------------------------------------------------------------------- the worker


def _async_raise(thread: threading.Thread, exc_type=KeyboardInterrupt) -> bool:
    if thread.ident is None or not thread.is_alive():
        return False
    n = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                   ctypes.py_object(exc_type))
    if n > 1:  # pragma: no cover - cannot happen with a valid ident; undo as documented
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), None)
        return False
    return n == 1


_SIGINT = {signal.SIGINT}
_MASKABLE = hasattr(signal, "pthread_sigmask")


class _SigintHeld:
    """``with _SigintHeld():`` holds SIGINT back in this thread for the block and delivers it
    when the block ends. Python's Events and Conditions (``Event.set``/``clear``,
    ``Thread.start``'s wait for the new thread) re-take their locks in Python code, and a
    KeyboardInterrupt landing there leaves a lock released twice (``RuntimeError: release
    unlocked lock``) or held for ever (the next ``set`` hangs). Assumes the thread does not
    hold SIGINT back already (the main thread of a Python program does not); threads started
    in the block inherit the held signal (:func:`call_interruptibly`'s worker releases it)."""

    def __enter__(self):
        if _MASKABLE:
            try:
                signal.pthread_sigmask(signal.SIG_BLOCK, _SIGINT)
            except KeyboardInterrupt:  # a Ctrl-C that arrived just before: nothing held
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGINT)
                raise
        return self

    def __exit__(self, *exc):
        if _MASKABLE:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGINT)
        return False


def call_interruptibly(fn, *args, grace: float = GRACE, **kwargs):
    """``fn(*args, **kwargs)`` run in a worker thread so that Ctrl-C stops it within about
    ``grace`` seconds (module docstring); raises :class:`Interrupted` on Ctrl-C, otherwise
    returns ``fn``'s result or re-raises its exception. Off the main thread (where Python never
    sees Ctrl-C) it simply calls ``fn``.

    Ctrl-C lands between any two bytecodes of the main thread, so the main thread waits by
    taking a plain lock that the worker releases when it ends (a C call that a
    KeyboardInterrupt leaves intact), never in ``Event.wait`` or ``Thread.join``, and holds
    SIGINT back while it touches an Event or starts the worker (:class:`_SigintHeld`); a test
    interrupts every line of the wait in turn."""
    if threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)
    box: dict = {}
    worker = done = finished = None

    def target():
        try:
            if _MASKABLE:  # held back by the starting thread: the worker's forks see SIGINT
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGINT)
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc
        finally:
            done.set()
            finished.release()

    try:
        with _SigintHeld():
            CANCEL.clear()
            done = threading.Event()  # set by the worker when it ends (never waited on)
            finished = threading.Lock()  # held until the worker ends
            finished.acquire()
            worker = threading.Thread(target=target, name="stresstest-work", daemon=True)
            worker.start()
        while not finished.acquire(timeout=0.05):
            pass
    except KeyboardInterrupt:
        with _SigintHeld():
            started = worker is not None and worker.ident is not None
            if started:
                with _lock:
                    CANCEL.set()
                    if worker.ident not in _solving:
                        _async_raise(worker)
        if not started:  # interrupted before the work began: nothing to stop
            raise Interrupted(stuck=False) from None
        try:
            if not done.is_set():
                finished.acquire(timeout=grace)
        except KeyboardInterrupt:  # a second Ctrl-C: do not wait any longer
            pass
        with _SigintHeld():
            stuck = not done.is_set()
            if not stuck:  # later solves in this process run normally again
                CANCEL.clear()
        raise Interrupted(stuck=stuck, worker=worker) from None
    if "error" in box:
        exc = box.pop("error")
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, Interrupted):
            raise Interrupted(stuck=False) from None
        raise exc
    return box.get("value")


def abandon(worker: threading.Thread | None) -> list[str]:
    """Remove the temporary file of an atomic write the stuck ``worker`` is in the middle of
    (:func:`stresstest.economy.write_atomic`); returns the paths removed. Call just before
    ``os._exit``."""
    removed = []
    if worker is None or worker.ident is None:
        return removed
    frame = sys._current_frames().get(worker.ident)
    while frame is not None:
        if frame.f_code.co_name == "write_atomic":
            tmp = frame.f_locals.get("tmp")
            if isinstance(tmp, (str, os.PathLike)) and os.path.exists(tmp):
                try:
                    os.unlink(tmp)
                    removed.append(os.fspath(tmp))
                except OSError:
                    pass
        frame = frame.f_back
    return removed


__all__ = ["CANCEL", "GRACE", "Interrupted", "cancelled", "install_solver_hooks",
           "call_interruptibly", "abandon"]
