// Command expcount counts the exported identifiers of the module's public
// surface: the types, funcs, methods on exported types, consts and vars
// declared in non-test files of packages other than main, outside internal/,
// examples/, cmd/ and testdata/ directories. Issue 9 measured the surface
// with it. Usage, from the repository root:
//
//	go run ./internal/tools/expcount .
//
// LIST=1 also prints every exported func and method.
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	per := map[string]int{}
	total := 0
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			n := info.Name()
			if n == "internal" || n == "examples" || n == "testdata" || n == ".git" || n == "cmd" || (strings.HasPrefix(n, ".") && p != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil
		}
		dir, _ := filepath.Rel(root, filepath.Dir(p))
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv != nil {
					t := d.Recv.List[0].Type
					if s, ok := t.(*ast.StarExpr); ok {
						t = s.X
					}
					if ix, ok := t.(*ast.IndexExpr); ok {
						t = ix.X
					}
					if id, ok := t.(*ast.Ident); ok && !id.IsExported() {
						continue
					}
				}
				per[dir]++
				total++
				if os.Getenv("LIST") != "" {
					fmt.Println("  ", dir, recvName(d), d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							per[dir]++
							total++
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								per[dir]++
								total++
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "expcount:", err)
		os.Exit(1)
	}
	keys := make([]string, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%5d %s\n", per[k], k)
	}
	fmt.Printf("%5d total\n", total)
}

func recvName(d *ast.FuncDecl) string {
	if d.Recv == nil {
		return "func"
	}
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name
	}
	return "?"
}
