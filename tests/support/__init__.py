"""Test support shared by the whole suite: one of each helper, in a module named for what it does.

- :mod:`tests.support.paths`: the repository, the interpreter, the sample servers, the Node tools;
- :mod:`tests.support.ports`: a free loopback port;
- :mod:`tests.support.waiting`: polling a condition with a deadline (``wait_for``, ``async_wait_for``);
- :mod:`tests.support.servers`: servers on a background thread (an ASGI app under uvicorn, a stdlib
  ``http.server``), on 127.0.0.1;
- :mod:`tests.support.processes`: process liveness and process trees, read from /proc;
- :mod:`tests.support.gateway_process`: ``mcp-gateway serve`` as a child process of the test.
"""
