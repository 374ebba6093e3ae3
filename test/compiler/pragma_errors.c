// Malformed `#pragma dsm` lines are errors at their location; clauses of the
// directive spellings are checked by Clang's OpenMP parser.
// RUN: dsm-clang -fsyntax-only -Xclang -verify %s

int g;
int h;
void f(int);

#pragma dsm // expected-error {{expected a dsm directive}}
#pragma dsm paralel // expected-error {{unknown dsm directive 'paralel'}}
#pragma dsm shared(g h) // expected-error {{expected ',' or ')'}}
#pragma dsm shared(g, 3) // expected-error {{expected a variable name}}
#pragma dsm shared(nosuch) // expected-error {{'nosuch' is not a global or static variable}}
#pragma dsm shared(f) // expected-error {{'f' is not a global or static variable}}
#pragma dsm shared(g) h // expected-error {{extra tokens after '#pragma dsm shared(...)'}}
#pragma dsm private[g] // expected-error {{expected '(' or end of line after '#pragma dsm private'}}

#pragma dsm shared // expected-error {{must precede a global or static variable declaration}}
void not_a_variable(void);

struct record {
#pragma dsm shared // expected-error {{must precede a global or static variable declaration}}
  int field;
  int last;
#pragma dsm private // expected-error {{must precede a global or static variable declaration}}
};
int after_record;

void body(int n) {
  int x = 0;
#pragma dsm parallel nosuchclause(x) // expected-warning {{extra tokens at the end of '#pragma omp parallel' are ignored}}
  x++;
#pragma dsm parallel schedule(static) // expected-error {{unexpected OpenMP clause 'schedule' in directive '#pragma omp parallel'}}
  x++;
#pragma dsm for schedule(sometimes) // expected-error {{expected 'static', 'dynamic', 'guided', 'auto', 'runtime', 'monotonic', 'nonmonotonic' or 'simd' in OpenMP clause 'schedule'}}
  for (int i = 0; i < n; i++) x += i;
#pragma dsm critical(name
  x++; // expected-error@-1 {{expected ')'}} expected-note@-1 {{to match this '('}}
#pragma dsm single nowait nowait // expected-error {{directive '#pragma omp single' cannot contain more than one 'nowait' clause}}
  x++;
}

#pragma dsm shared // expected-error {{must precede a global or static variable declaration}}
