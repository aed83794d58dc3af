"""Whether a download host answers: probed in seconds, so that an offline machine fails at once
instead of after a downloader's minutes of retries."""


def reachable(host, port=443, timeout=5.0):
    """Whether a TCP connection to `host:port` opens within `timeout` seconds.

    Example:

    >>> import socket
    >>> with socket.socket() as closed:  # a free local port that nothing listens on
    ...     closed.bind(("127.0.0.1", 0))
    ...     port = closed.getsockname()[1]
    >>> reachable("127.0.0.1", port)
    False
    """
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False
