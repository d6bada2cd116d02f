"""Named ASCII byte values for the compiled byte scanners (JSON decoders and encoders), so that a comparison
reads ``b[p] == COMMA`` rather than ``b[p] == 44``. Plain ints: numba freezes them as constants."""
from __future__ import annotations

TAB, LF, CR, SPACE = 9, 10, 13, 32  # JSON whitespace; bytes below SPACE are control characters
QUOTE, PLUS, COMMA, MINUS, DOT, SLASH, COLON, BACKSLASH = 34, 43, 44, 45, 46, 47, 58, 92
LBRACKET, RBRACKET, LBRACE, RBRACE = 91, 93, 123, 125  # [ ] { }
DIGIT_0, DIGIT_8, DIGIT_9 = 48, 56, 57
UPPER_A, UPPER_E, UPPER_F = 65, 69, 70
LOWER_A, LOWER_B, LOWER_C, LOWER_D, LOWER_E, LOWER_F = 97, 98, 99, 100, 101, 102
LOWER_L, LOWER_N, LOWER_R, LOWER_S, LOWER_T, LOWER_U = 108, 110, 114, 115, 116, 117
NON_ASCII = 128  # first byte value that is not ASCII (UTF-8 lead and continuation bytes)
