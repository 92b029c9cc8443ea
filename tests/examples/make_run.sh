#!/usr/bin/env bash
# `make run` as a user runs it, in a terminal (a pseudo-terminal here):
# make starts the example, it answers, Ctrl-C stops it gracefully, and make
# exits 0 without its "Interrupt" line, as the README says. On the way,
# Ctrl-Z stops the job (make included, as a shell's job control expects)
# and SIGCONT resumes it. The build is the test's own (RELEASE=<build dir>,
# the release target assumed done).
set -euo pipefail
src=$1 bin=$2
exec python3 - "$src" "$bin" <<'PY'
import os, pty, select, signal, socket, sys, time, urllib.request

src, bin_dir = sys.argv[1], sys.argv[2]
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
argv = ["make", "-C", src, "--no-print-directory", "-o", "release", "-o", "deps", "run",
        f"RELEASE={bin_dir}", f"PORT={port}", "EXAMPLE=controllers"]
pid, master = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)

out = b""
def read_for(seconds, until=None):
    """Reads the terminal for up to `seconds`, or until `until` appears;
    False at end of output."""
    global out
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's last user has gone
                return False
            if not chunk:
                return False
            out += chunk
            if until and until in out:
                return True
    return True

def fail(why):
    print(f"make run: {why}\n--- terminal:\n{out.decode(errors='replace')}")
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    sys.exit(1)

def wait_make(options, seconds):
    """make's wait status once it changes (options: os.WUNTRACED to see a
    stop), or None after `seconds`."""
    end = time.time() + seconds
    while time.time() < end:
        got, status = os.waitpid(pid, os.WNOHANG | options)
        if got == pid:
            return status
        read_for(0.1)
    return None

def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.status, r.read()

read_for(30, f"listening on http://127.0.0.1:{port}".encode())
if f"listening on http://127.0.0.1:{port}".encode() not in out:
    fail("the example did not start")
if get("/") != (200, b"Hello, World!"):
    fail("GET / did not answer Hello, World!")

# Ctrl-Z: make stops with the program (the shell would show the job as
# stopped); SIGCONT to make's group (what `fg` sends) resumes both.
os.write(master, b"\x1a")
status = wait_make(os.WUNTRACED, 10)
if status is None or not os.WIFSTOPPED(status):
    fail(f"Ctrl-Z did not stop make (wait status {status})")
os.killpg(pid, signal.SIGCONT)
time.sleep(0.2)
if get("/user/7") != (200, b"User ID: 7"):
    fail("no answer after the job was resumed")

os.write(master, b"\x03")  # Ctrl-C
status = wait_make(0, 20)
read_for(1)
text = out.decode(errors="replace")
if status is None:
    fail("make did not end within 20 s of Ctrl-C")
if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
    fail(f"make did not exit 0 after Ctrl-C (wait status {status:#x})")
if "Interrupt" in text:
    fail("make printed Interrupt")
if '"GET /user/7 HTTP/1.1" 200' not in text:
    fail("the access log was not flushed by a graceful stop")
print("make run: Ctrl-Z stopped and resumed it, Ctrl-C stopped it gracefully, make exited 0")
PY
