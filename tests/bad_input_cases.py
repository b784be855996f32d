"""Bad values for every request meta key and setting this package reads,
with the start of the error each must give (shared by the unit tests of the
mapping and the handler tests that check nothing is sent)."""

from __future__ import annotations

from types import MappingProxyType

JA3 = "771,4865-4866-4867,0-23-65281-10-11-35-16-5-13-18-51-45-43-27,29-23-24,0"
PIN = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

#: (meta key, bad value, what the error must say)
META_CASES: list[tuple[str, object, str]] = [
    ("tls_client_profile", 5, "'tls_client_profile' request meta key must be a non-empty profile name"),
    ("tls_client_profile", "", "'tls_client_profile' request meta key must be a non-empty profile name"),
    (
        "tls_client_profile",
        "chrome_15O",
        "unknown tls-client profile 'chrome_15O' .close matches: .*chrome_150",
    ),
    ("tls_client_custom_tls", JA3, "'tls_client_custom_tls' request meta key must be a dict"),
    (
        "tls_client_custom_tls",
        MappingProxyType({"ja3String": JA3}),
        "'tls_client_custom_tls' request meta key holds a builtins.mappingproxy; "
        "tls_client_.* values must be plain JSON values",
    ),
    ("tls_client_custom_tls", {}, "'tls_client_custom_tls' request meta key needs a 'ja3String'"),
    ("tls_client_custom_tls", {"ja3String": "771;4865"}, r"\['ja3String'\] must be a JA3 string"),
    ("tls_client_custom_tls", {"ja3string": JA3}, "unknown field 'ja3string' .did you mean ja3String"),
    ("tls_client_custom_tls", {"ja3String": JA3, "h2Settings": {"WINDOW": 1}}, "unknown setting 'WINDOW'"),
    (
        "tls_client_custom_tls",
        {"ja3String": JA3, "connectionFlow": -1},
        r"\['connectionFlow'\] must be an integer from 0",
    ),
    (
        "tls_client_custom_tls",
        {"ja3String": JA3, "pseudoHeaderOrder": [":method"]},
        "must be an order of all four",
    ),
    (
        "tls_client_random_tls_extension_order",
        "yes",
        "'tls_client_random_tls_extension_order' request meta key must be True, False or None",
    ),
    (
        "tls_client_random_tls_extension_order",
        1,
        "'tls_client_random_tls_extension_order' request meta key must be True, False or None",
    ),
    (
        "tls_client_header_order",
        "user-agent",
        "'tls_client_header_order' request meta key must be a list of non-empty strings",
    ),
    (
        "tls_client_header_order",
        [],
        "'tls_client_header_order' request meta key must list at least one header name",
    ),
    ("tls_client_header_order", ["user agent"], "'user agent' is not a header name"),
    ("tls_client_header_order", ["Accept", "accept"], "lists a header name twice"),
    (
        "tls_client_browser_headers",
        "no",
        "'tls_client_browser_headers' request meta key must be True or False",
    ),
    (
        "tls_client_request_kind",
        "page",
        "'tls_client_request_kind' request meta key must be one of navigation, fetch",
    ),
    ("tls_client_request_kind", None, "'tls_client_request_kind' request meta key must be one of"),
    (
        "tls_client_request_kind",
        "websocket",
        "'tls_client_request_kind' request meta key is 'websocket', which only ws:// and wss:// requests",
    ),
    ("tls_client_failover", "no", "'tls_client_failover' request meta key must be True or False"),
    ("tls_client_failover", 0, "'tls_client_failover' request meta key must be True or False"),
    ("tls_client_identity", "", "'tls_client_identity' request meta key must be a non-empty identity name"),
    ("tls_client_identity", 3, "'tls_client_identity' request meta key must be a non-empty identity name"),
    ("tls_client_server_name", "", "'tls_client_server_name' request meta key must be a DNS host name"),
    (
        "tls_client_server_name",
        "https://example.com/",
        "'tls_client_server_name' request meta key must be a DNS host name",
    ),
    ("tls_client_server_name", 7, "'tls_client_server_name' request meta key must be a DNS host name"),
    (
        "tls_client_certificate_pins",
        {},
        "'tls_client_certificate_pins' request meta key must be a non-empty dict",
    ),
    (
        "tls_client_certificate_pins",
        {"example.com": PIN},
        r"\['example.com'\] must be a list of non-empty strings",
    ),
    ("tls_client_certificate_pins", {"example.com": ["abc"]}, "'abc' is not a base64 SHA-256 digest"),
    (
        "tls_client_certificate_pins",
        {"https://example.com": [PIN]},
        "'https://example.com' is not a host name",
    ),
    ("tls_client_session", 5, "'tls_client_session' request meta key must be a non-empty name string"),
    ("tls_client_session", "", "'tls_client_session' request meta key must be a non-empty name string"),
    ("tls_client_force_http1", "yes", "'tls_client_force_http1' request meta key must be True or False"),
    ("tls_client_http3", 1, "'tls_client_http3' request meta key must be True or False"),
    ("tls_client_no_deadline", "true", "'tls_client_no_deadline' request meta key must be True or False"),
    ("tls_client_resume", "yes", "'tls_client_resume' request meta key must be True or False"),
    ("tls_client_body_file_hash", "md6", "'tls_client_body_file_hash' request meta key must be one of .*md5"),
    ("tls_client_body_file_label", 12, "'tls_client_body_file_label' request meta key must be a string"),
    ("tls_client_body_file_digest", 12, "'tls_client_body_file_digest' request meta key is set by the"),
    ("tls_client_body_file_attempts", -1, "'tls_client_body_file_attempts' request meta key is set by the"),
    (
        "tls_client_body_file_resumed_bytes",
        "0",
        "'tls_client_body_file_resumed_bytes' request meta key is set",
    ),
    ("tls_client_stream", "yes", "'tls_client_stream' request meta key must be True or False"),
    ("tls_client_debug", None, "'tls_client_debug' request meta key must be True or False"),
    ("download_timeout", -1, "'download_timeout' request meta key must be a positive number of seconds"),
    ("download_timeout", "soon", "'download_timeout' request meta key must be a positive number of seconds"),
    ("proxy", 5, "'proxy' request meta key must be a URL string"),
    ("proxy", "ftp://127.0.0.1:21", "Unsupported proxy scheme 'ftp' in the 'proxy' request meta key"),
    ("bindaddress", ["127.0.0.1"], "'bindaddress' request meta key must be a host string"),
    (
        "tls_client_proflie",
        "chrome_150",
        "Unknown request meta key 'tls_client_proflie'. Did you mean 'tls_client_profile'",
    ),
]

#: (setting, bad value, what the NotConfigured error must say)
SETTING_CASES: list[tuple[str, object, str]] = [
    ("TLS_CLIENT_IDENTITY_FILES", 3, "TLS_CLIENT_IDENTITY_FILES must be a list of identity file paths"),
    ("TLS_CLIENT_IDENTITY_FILES", [""], "TLS_CLIENT_IDENTITY_FILES must be a list of identity file paths"),
    ("TLS_CLIENT_PROFILE", 5, "TLS_CLIENT_PROFILE must be a profile name string or None"),
    ("TLS_CLIENT_PROFILE", "", "TLS_CLIENT_PROFILE must be a profile name string or None"),
    (
        "TLS_CLIENT_PROFILE",
        "firefox_999",
        "TLS_CLIENT_PROFILE setting: unknown tls-client profile 'firefox_999'",
    ),
    ("TLS_CLIENT_BROWSER_HEADERS", "maybe", r"TLS_CLIENT_BROWSER_HEADERS must be a boolean \(True/False"),
    ("TLS_CLIENT_BROWSER_HEADERS", [1], r"TLS_CLIENT_BROWSER_HEADERS must be a boolean \(True/False"),
    ("TLS_CLIENT_RANDOM_TLS_EXTENSION_ORDER", 2, "TLS_CLIENT_RANDOM_TLS_EXTENSION_ORDER must be a boolean"),
    ("TLS_CLIENT_CUSTOM_TLS", JA3, "TLS_CLIENT_CUSTOM_TLS must be a dict"),
    ("TLS_CLIENT_CUSTOM_TLS", {}, "TLS_CLIENT_CUSTOM_TLS needs a 'ja3String'"),
    (
        "TLS_CLIENT_CUSTOM_TLS",
        {"ja3String": JA3, "h2SettingsOrder": ["MAX_FRAME_SIZE"]},
        "'h2SettingsOrder' .* must list exactly",
    ),
    ("TLS_CLIENT_CERTIFICATE_PINS", {}, "TLS_CLIENT_CERTIFICATE_PINS must be a non-empty dict"),
    ("TLS_CLIENT_CERTIFICATE_PINS", {"example.com": ["x"]}, "'x' is not a base64 SHA-256 digest"),
    ("TLS_CLIENT_DEBUG", "maybe", "TLS_CLIENT_DEBUG must be a boolean"),
    ("TLS_CLIENT_FORCE_HTTP1", "on", "TLS_CLIENT_FORCE_HTTP1 must be a boolean"),
    ("TLS_CLIENT_HTTP3", -1, "TLS_CLIENT_HTTP3 must be a boolean"),
    (
        "TLS_CLIENT_PROGRESS_INTERVAL",
        -1,
        r"TLS_CLIENT_PROGRESS_INTERVAL must be a number of seconds, 0 or more",
    ),
    ("TLS_CLIENT_PROGRESS_INTERVAL", "soon", r"TLS_CLIENT_PROGRESS_INTERVAL must be a number of seconds"),
    ("TLS_CLIENT_RESUME", "maybe", "TLS_CLIENT_RESUME must be a boolean"),
    ("TLS_CLIENT_RESUME_DIR", 5, "TLS_CLIENT_RESUME_DIR must be a directory path or None"),
    ("TLS_CLIENT_RESUME_MAX_AGE", -1, "TLS_CLIENT_RESUME_MAX_AGE must be a number of seconds"),
    ("TLS_CLIENT_MAX_SESSIONS", 0, "TLS_CLIENT_MAX_SESSIONS must be a positive integer"),
    ("TLS_CLIENT_MAX_SESSIONS", -5, "TLS_CLIENT_MAX_SESSIONS must be a positive integer"),
    ("TLS_CLIENT_MAX_SESSIONS", "many", "TLS_CLIENT_MAX_SESSIONS must be an integer"),
    ("TLS_CLIENT_LIBRARY_PATH", 5, "TLS_CLIENT_LIBRARY_PATH must be a path string or None"),
    ("TLS_CLIENT_LIBRARY_PATH", "", "TLS_CLIENT_LIBRARY_PATH must be a path string or None"),
    ("TLS_CLIENT_FAILOVER_POOL", [], "TLS_CLIENT_FAILOVER_POOL must be a non-empty list of identity names"),
    ("TLS_CLIENT_FAILOVER_POOL", 5, "TLS_CLIENT_FAILOVER_POOL must be a non-empty list of identity names"),
    (
        "TLS_CLIENT_FAILOVER_POOL",
        ["chrome_156_linux", "chrome_156_linux"],
        "TLS_CLIENT_FAILOVER_POOL lists chrome_156_linux more than once",
    ),
    (
        "TLS_CLIENT_FAILOVER_BLOCK_CODES",
        [99],
        "TLS_CLIENT_FAILOVER_BLOCK_CODES must be a list of HTTP status",
    ),
    ("TLS_CLIENT_FAILOVER_BLOCK_CODES", "403,x", "TLS_CLIENT_FAILOVER_BLOCK_CODES must be a list of HTTP"),
    (
        "TLS_CLIENT_FAILOVER_BLOCK_CHECK",
        "no_such_module.check",
        r"TLS_CLIENT_FAILOVER_BLOCK_CHECK must be a callable \(response, request\) or its import path",
    ),
    ("TLS_CLIENT_FAILOVER_BLOCK_CHECK", 5, r"TLS_CLIENT_FAILOVER_BLOCK_CHECK must be a callable \(response"),
    ("TLS_CLIENT_FAILOVER_COOLDOWN", 0, "TLS_CLIENT_FAILOVER_COOLDOWN must be a positive number of seconds"),
    ("TLS_CLIENT_FAILOVER_COOLDOWN", "soon", "TLS_CLIENT_FAILOVER_COOLDOWN must be a positive number"),
    ("TLS_CLIENT_FAILOVER_MAX_COOLDOWN", 10, r"TLS_CLIENT_FAILOVER_MAX_COOLDOWN \(10\) must be at least"),
    ("TLS_CLIENT_FAILOVER_SITE", "registrable", "TLS_CLIENT_FAILOVER_SITE must be 'domain', 'host' or a"),
    ("TLS_CLIENT_FAILOVER_PROXY", 5, r"TLS_CLIENT_FAILOVER_PROXY must be a callable \(site, identity\)"),
]
