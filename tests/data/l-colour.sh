#!/bin/sh
# Real terminal-minded output for the stripANSI test: printf colours, an OSC
# window title and hyperlink, tput (sgr0 is ESC ( B ESC [ m), DEC private
# modes, grep --color=always, and UTF-8 text whose continuation bytes lie in
# the C1 range (0x80-0x9F) and must be kept.
# The expected stripped text is in l-colour.expected.
TERM=xterm-256color
export TERM
printf '\033]0;my title\007'
printf '\033[1;31mERROR\033[0m: disk \033[4mfull\033[24m\n'
printf '\033]8;;http://example.com/\033\\link\033]8;;\033\\ text\n'
printf '%sbold%s plain\n' "$(tput bold)" "$(tput sgr0)"
printf '%sred%s %sgreen%s\n' "$(tput setaf 1)" "$(tput sgr0)" "$(tput setaf 2)" "$(tput sgr0)"
printf '%shidden cursor%s\n' "$(tput civis)" "$(tput cnorm)"
printf '\0337saved\0338 \033=keypad\033> \033[2K\033[1Gprogress 100%%\n'
printf '\033[38;5;208morange\033[39m \033[48;2;10;20;30mtruecolor\033[49m\n'
echo "a match here" | grep --color=always match
printf 'caf\303\251 \342\202\254 \304\233 end\n'
