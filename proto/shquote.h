/*
 * Shell quoting for display: a command as a user would type it at a POSIX
 * shell, so that what jqd runs can be shown (jq-client's `job`) and pasted
 * back.  For display only: nothing here is ever run by a shell.
 */
#ifndef JQ_SHQUOTE_H
#define JQ_SHQUOTE_H

struct strbuf;

/*
 * Append word to sb as the shell reads it back: as is when it is made of
 * characters no shell treats specially (letters, digits, and
 * %+,-./:=@_), else in single quotes, each ' written as '\''; a word
 * holding control bytes (a newline, ESC) in $'...' (bash, zsh, ksh and
 * POSIX.1-2024 sh) with each as \xNN and ' and \ escaped, so the text
 * stays one line and cannot drive a terminal.  An empty word is ''.
 */
void	 shquote_append(struct strbuf *sb, const char *word);

#endif
